"""What providers tell us after a send: WhatsApp statuses, Messenger receipts, and what Meta charged.

Called by the inbound pipeline (the Meta webhook's ``statuses`` of WhatsApp, ``delivery`` and
``read`` of Messenger) and by the WhatsApp sender when Meta refuses a template at once.

Rules that hold for every report:

- A report only moves a message forward: ``sent`` < ``delivered`` < ``read``. A report that arrives
  late (``delivered`` after ``read``) or twice changes nothing, except that the earliest time reported
  for a step is kept (a ``delivered`` at 10:00 arriving after a ``read`` at 10:05 sets ``delivered_at``
  to 10:00). ``read`` implies ``delivered``.
- ``failed`` ends a message that was not delivered (state ``failed``, ``failure_code``, ``reason``);
  it is ignored once the message is known delivered or read. WhatsApp 131049 (Meta's per-person
  marketing limit) ends with reason ``meta_marketing_limit``, 131047 (the 24-hour window closed)
  with ``window_closed``; neither is retried.
- ``updated_at`` moves only with the state (a failure), not with delivered/read times: the contact's
  timeline dates "message sent" by it.
- What Meta charged (``billable``, ``pricing_category``) becomes, for messages of a sequence or
  broadcast with a campaign code, that campaign's cost of the day (``whatsapp_campaign_cost_refresh``),
  recomputed from the rows, so a replayed status never counts twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from api.campaigns.services import messaging_cost_set
from api.common.businesstime import business_localtime, business_tz
from api.contacts.enums import Channel
from api.nurture import conf
from api.nurture.models import OutboundMessage

logger = logging.getLogger(__name__)

State = OutboundMessage.State

WHATSAPP_STATUSES = ("sent", "delivered", "read", "failed")
MESSENGER_RECEIPT_KINDS = ("delivery", "read")
# WhatsApp error codes with a reason of their own on the message (the others: ``failed: <code> <title>``).
FAILURE_REASONS: dict[str, str] = {
    "131049": "meta_marketing_limit",  # Meta dropped it to keep the person's marketing volume healthy
    "131047": "window_closed",  # free-form text after the 24-hour customer-service window
}


def failure_reason(error_code: str, error_title: str = "") -> str:
    """The ``reason`` recorded on a message that WhatsApp failed with ``error_code``."""
    code = str(error_code or "").strip()
    if code in FAILURE_REASONS:
        return FAILURE_REASONS[code]
    return f"failed: {code} {error_title}".strip()[:200] if code or error_title else "failed"


def _earliest(fields: dict[str, Any], message: OutboundMessage, name: str, at: datetime) -> None:
    """Record ``at`` for step ``name`` unless an earlier (or the same) time is already known."""
    current = getattr(message, name)
    if current is None or at < current:
        fields[name] = at
        setattr(message, name, at)


def outbound_status_apply(*, channel: str, provider_message_id: str, status: str, at: datetime,
                          error_code: str = "", error_title: str = "", pricing_category: str = "",
                          billable: bool | None = None, recipient: str = "") -> bool:
    """Apply one WhatsApp status (``sent``, ``delivered``, ``read``, ``failed``) to the message Meta
    knows as ``provider_message_id``. Returns whether the message changed.

    Idempotent and order-proof (see the module docstring); the row is locked while it is compared,
    so two deliveries of one status at once change it once. An unknown message id or status changes
    nothing (False): the status of a message this system did not send. A status that overtakes the
    dispatcher's record of the send (the worker writes it with its next statement, milliseconds later)
    finds the message still ``sending`` to ``recipient`` without a provider id: it is that one (one
    message at a time per person: Meta's pair rate), and the status is applied to it. A charged message of a campaign's sequence or broadcast refreshes that campaign's
    cost of the day.
    """
    provider_message_id = str(provider_message_id or "").strip()
    status = str(status or "").strip().lower()
    if not provider_message_id or status not in WHATSAPP_STATUSES:
        return False
    pricing_category = str(pricing_category or "").strip().lower()[:30]
    code = str(error_code or "").strip()[:20]
    with transaction.atomic():
        message = (OutboundMessage.objects.select_for_update()
                   .filter(channel=channel, provider_message_id=provider_message_id).order_by("id").first())
        fields: dict[str, Any] = {}
        if message is None and recipient:
            message = (OutboundMessage.objects.select_for_update()
                       .filter(channel=channel, recipient=recipient, state=State.SENDING, provider_message_id="")
                       .order_by("-claimed_at", "-id").first())
            if message is not None:
                fields["provider_message_id"] = message.provider_message_id = provider_message_id[:100]
        if message is None:
            return False
        if status == "delivered":
            _earliest(fields, message, "delivered_at", at)
        elif status == "read":
            _earliest(fields, message, "read_at", at)
            _earliest(fields, message, "delivered_at", at)
        elif status == "failed" and message.delivered_at is None and message.read_at is None:
            reason = failure_reason(code, error_title)
            if (message.state, message.failure_code, message.reason) != (State.FAILED, code, reason):
                fields.update(state=State.FAILED, failure_code=code, reason=reason, updated_at=timezone.now())
                if message.state in (State.SCHEDULED, State.SENDING):
                    fields.update(claim_token="", claimed_until=None)
                message.state = State.FAILED
        if pricing_category and message.pricing_category != pricing_category:
            fields["pricing_category"] = message.pricing_category = pricing_category
        if billable is not None and message.billable != bool(billable):
            fields["billable"] = message.billable = bool(billable)
        if not fields:
            return False
        OutboundMessage.objects.filter(pk=message.pk).update(**fields)
        if channel == Channel.WHATSAPP and ("billable" in fields or (message.billable and "pricing_category" in fields)):
            _refresh_cost_of(message, at)
    return True


def outbound_send_refused(*, message_id: int, error_code: str, error_title: str = "") -> bool:
    """Meta refused a WhatsApp send at once with ``error_code`` (131049, 131047): end the message as
    ``failed`` with its own reason and ``failure_code``, never to be retried.

    Called by the sender while the row is ``sending``; guarded by that state, so the dispatcher's own
    failure record that follows finds nothing left to change. Returns whether the row changed.
    """
    code = str(error_code or "").strip()[:20]
    return bool(OutboundMessage.objects.filter(pk=message_id, state=State.SENDING).update(
        state=State.FAILED, failure_code=code, reason=failure_reason(code, error_title), claim_token="",
        claimed_until=None, updated_at=timezone.now()))


def messenger_receipt_apply(*, psid: str, kind: str, watermark: datetime, mids: Sequence[str] = ()) -> int:
    """Apply a Messenger ``delivery`` or ``read`` receipt from the person ``psid``. Returns how many
    messages changed.

    ``delivery``: the messages with the given ``mids``, and every message to that PSID sent at or
    before ``watermark`` (Meta: everything before the watermark was delivered), get ``delivered_at``.
    ``read``: every message to that PSID sent at or before ``watermark`` gets ``read_at`` (and
    ``delivered_at``, which reading implies). Both take the watermark as the time; a message that
    already has the time keeps it, so a receipt replayed changes nothing.
    """
    psid = str(psid or "").strip()
    if not psid or kind not in MESSENGER_RECEIPT_KINDS:
        return 0
    to_person = OutboundMessage.objects.filter(channel=Channel.MESSENGER, recipient=psid)
    covered = Q(sent_at__isnull=False, sent_at__lte=watermark)
    wanted_mids = [str(m) for m in mids if m]
    if kind == "delivery" and wanted_mids:
        covered |= Q(provider_message_id__in=wanted_mids)
    with transaction.atomic():
        undelivered = set(to_person.filter(covered, delivered_at__isnull=True).values_list("id", flat=True))
        unread = (set(to_person.filter(covered, read_at__isnull=True).values_list("id", flat=True))
                  if kind == "read" else set())
        if undelivered:
            OutboundMessage.objects.filter(id__in=undelivered, delivered_at__isnull=True).update(
                delivered_at=watermark)
        if unread:
            OutboundMessage.objects.filter(id__in=unread, read_at__isnull=True).update(read_at=watermark)
    return len(undelivered | unread)


# --- what Meta charged, as campaign costs ----------------------------------------------------------------


def whatsapp_price_xaf(pricing_category: str) -> Decimal:
    """Meta's price of one charged WhatsApp message of ``pricing_category`` to a Cameroonian number, in XAF
    (``NURTURE_WHATSAPP_PRICES_XAF``; a category not listed is free)."""
    prices = conf.get("NURTURE_WHATSAPP_PRICES_XAF") or {}
    value = prices.get((pricing_category or "").lower())
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _campaign_code_of(message: OutboundMessage) -> str:
    if message.enrollment_id:
        enrollment = message.enrollment
        return (enrollment.sequence.campaign_code if enrollment is not None else "") or ""
    if message.broadcast_id:
        broadcast = message.broadcast
        return (broadcast.campaign_code if broadcast is not None else "") or ""
    return ""


def _refresh_cost_of(message: OutboundMessage, at: datetime) -> None:
    code = _campaign_code_of(message).strip().upper()
    if code:
        whatsapp_campaign_cost_refresh(campaign_code=code, day=business_localtime(message.sent_at or at).date())


def whatsapp_campaign_cost_refresh(*, campaign_code: str, day: date) -> int:
    """Recompute what Meta charged on business day ``day`` for the WhatsApp messages of the sequences
    and broadcasts with ``campaign_code``, and store it as the campaign's cost of that day.

    The total is the sum, over the day's billable messages (by the day they were sent, business time
    zone), of their pricing category's price (``whatsapp_price_xaf``), rounded to whole XAF once per
    day. Recomputed from the rows, hence idempotent. Returns the amount in XAF (0 when the code names
    no campaign: nothing is recorded).
    """
    code = campaign_code.strip().upper()
    start = datetime.combine(day, datetime.min.time(), tzinfo=business_tz())
    outcome = {"amount": 0}

    def total() -> tuple[int, str]:
        per_category = (OutboundMessage.objects
                        .filter(channel=Channel.WHATSAPP, billable=True, sent_at__gte=start,
                                sent_at__lt=start + timedelta(days=1))
                        .filter(Q(enrollment__sequence__campaign_code=code) | Q(broadcast__campaign_code=code))
                        .values_list("pricing_category").annotate(n=Count("id"))
                        .values_list("pricing_category", "n").order_by())
        counts = dict(per_category)
        amount = sum((whatsapp_price_xaf(category) * n for category, n in counts.items()), Decimal(0))
        outcome["amount"] = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        described = ", ".join(f"{n} {category or '?'}" for category, n in sorted(counts.items()))
        return outcome["amount"], f"Messages WhatsApp facturés par Meta : {described}" if described else ""

    # Summed with the campaign locked (see ``messaging_cost_set``), so concurrent statuses add up.
    messaging_cost_set(campaign_code=code, day=day, total=total)
    return outcome["amount"]
