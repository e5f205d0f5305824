"""WhatsApp message templates: read from the business account, chosen by authors, filled when a message
is queued, checked when it is sent.

What the code enforces of Meta's rules for WhatsApp (2026), for the README:

1. **24-hour customer-service window.** The window is open while the person's last WhatsApp message
   (or click-to-WhatsApp ad referral) is less than 24 hours old (``campaigns.selectors.
   messaging_window_until``, read at send time). Inside it a message goes out as its free text, even
   when its author chose a template (free of charge). Outside it only a template goes out: a message
   without one is skipped ``template_required``; a message with one is sent as that template only if
   the template's row, as last synced from Meta, is ``APPROVED``; otherwise it is skipped
   ``template_paused`` (PAUSED), ``template_rejected`` (REJECTED, DISABLED), ``template_pending``
   (PENDING, IN_APPEAL and other not-yet-approved states) or ``template_missing`` (no such
   name and language in the account any more). A template whose body now takes another number of
   variables than the message was filled with is skipped ``template_changed``.
2. **Opt-in for marketing templates.** A MARKETING template goes only to a person whose WhatsApp
   consent is granted and not revoked (``contacts.selectors.contact_can_receive``), whatever the
   message's own category: a staff reply outside the window that falls back to a marketing template
   needs the opt-in too (skipped with the consent reason, e.g. ``no_consent``).
3. **Per-person marketing limit.** At most ``NURTURE_WHATSAPP_MARKETING_PER_WEEK`` (default 2)
   marketing templates reach one person in any rolling 7 days; one more is skipped
   ``marketing_limit``. This is on top of the all-channel ``NURTURE_WEEKLY_CAP``. Meta's own
   per-user marketing limit is not published as a number; this cap keeps us under it.
4. **Error 131049** (Meta did not deliver a marketing template "to maintain healthy ecosystem
   engagement"), whether answered at once or reported later in a ``failed`` status, ends the message
   ``failed`` with ``failure_code`` 131049 and reason ``meta_marketing_limit``; it is never retried.
   **Error 131047** (free text after the window closed) ends it with reason ``window_closed``.
5. **Authors choose approved templates only**: a sequence step or broadcast may name a template
   that exists and is APPROVED (any language) and whose variables are all in its body, at most as
   many as its purpose fills (below); order updates and replenishment reminders name theirs in
   settings (``NURTURE_WHATSAPP_TEMPLATE_*``).

Variables (positional ``{{n}}`` of the body, filled when the message is queued, stored on the
message as ``template_parameters``):

- contact messages (sequence steps, broadcasts, replenishment reminders): ``{{1}}`` = first name
  (else the name, else "cher client"), ``{{2}}`` = the contact's referral code;
- order messages (apology, thanks after a rating, any order update): ``{{1}}`` = first name,
  ``{{2}}`` = order number, ``{{3}}`` = order status in French, ``{{4}}`` = order amount
  (``12 500 FCFA``), ``{{5}}`` = the contact's referral code.

A template with variables in its header or buttons, or a media header, cannot be filled and is refused.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.common.errors import ApplicationError, ConflictError, field_error
from api.contacts.enums import Channel
from api.nurture import conf
from api.nurture.models import OutboundMessage, WhatsAppTemplate
from api.nurture.services.outbox import outbound_enqueue
from integrations.errors import IntegrationError, NotConfigured

logger = logging.getLogger(__name__)

APPROVED = "APPROVED"
MARKETING = "MARKETING"
# Status given to a row whose template is no longer in the account (kept: steps and messages name it).
DELETED = "DELETED"
_PAUSED = {"PAUSED"}
_NAMED_VARIABLE = re.compile(r"\{\{\s*[A-Za-z_]")
_REJECTED = {"REJECTED", "DISABLED"}

# How many variables each purpose fills (the order of ``contact_parameters`` / ``order_parameters``).
CONTACT_PARAMETERS = 2
ORDER_PARAMETERS = 5
FIRST_NAME_FALLBACK = "cher client"
# French words of order statuses, as a customer reads them.
ORDER_STATUS_FR = {
    "pending": "en attente", "confirmed": "confirmée", "preparing": "en préparation", "ready": "prête",
    "out_for_delivery": "en cours de livraison", "delivered": "livrée", "cancelled": "annulée",
    "refunded": "remboursée",
}


@dataclass(frozen=True)
class TemplateSyncResult:
    """What one sync did: rows created, rows changed, rows marked deleted, templates read."""

    created: int
    updated: int
    deleted: int
    read: int


def _waba_client() -> Any:
    # Imported here: senders builds the per-thread clients the dispatcher uses, and importing it at the
    # top would tie this module's import to the sender's.
    from api.nurture import senders

    return senders.whatsapp_client()


def whatsapp_templates_sync(*, client: Any = None, waba_id: str | None = None,
                            now: datetime | None = None) -> TemplateSyncResult:
    """Read every message template of the WhatsApp Business Account and upsert the rows by (name, language).

    ``WHATSAPP_BUSINESS_ACCOUNT_ID`` names the account; the client is the sender's (``WHATSAPP_*``
    settings). A template no longer listed keeps its row with status ``DELETED`` (steps and queued
    messages name it; they skip ``template_missing``). Nothing is written when the read fails, so a
    failed sync never loses what the last one found. Idempotent.

    Raises ``ConflictError`` (409 ``whatsapp_not_configured``) when the account or the token is not
    configured, and ``ApplicationError`` (502 ``provider_error``) when Meta cannot be read; the message
    never carries a credential.
    """
    waba_id = str(waba_id if waba_id is not None else getattr(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID", "") or "")
    now = now or timezone.now()
    if not waba_id:
        raise ConflictError("WhatsApp is not configured: set WHATSAPP_BUSINESS_ACCOUNT_ID.",
                            code="whatsapp_not_configured")
    try:
        client = client or _waba_client()
        listed = list(client.list_templates(waba_id))
    except NotConfigured as exc:
        raise ConflictError("WhatsApp is not configured: set the access token and phone number id.",
                            code="whatsapp_not_configured") from exc
    except IntegrationError as exc:
        logger.warning("whatsapp templates sync failed: %s", exc.message)
        raise ApplicationError(f"Meta could not be read: {exc.message}"[:300], code="provider_error",
                               status_code=502) from exc
    created = updated = 0
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        existing = {(t.name, t.language): t for t in WhatsAppTemplate.objects.select_for_update()}
        for item in listed:
            key = (str(item.name)[:512], str(item.language)[:15])
            if not key[0] or not key[1] or key in seen:
                continue
            seen.add(key)
            values = {"meta_id": str(item.id or "")[:64], "category": str(item.category or "").upper()[:30],
                      "status": str(item.status or "").upper()[:30], "components": list(item.components or []),
                      "body_parameter_count": max(0, int(item.body_parameter_count or 0))}
            row = existing.get(key)
            if row is None:
                WhatsAppTemplate.objects.create(name=key[0], language=key[1], synced_at=now, **values)
                created += 1
                continue
            if any(getattr(row, name) != value for name, value in values.items()):
                updated += 1
            WhatsAppTemplate.objects.filter(pk=row.pk).update(synced_at=now, **values)
        gone = [row.pk for key, row in existing.items() if key not in seen and row.status != DELETED]
        deleted = WhatsAppTemplate.objects.filter(pk__in=gone).update(status=DELETED, synced_at=now)
    return TemplateSyncResult(created=created, updated=updated, deleted=deleted, read=len(listed))


def whatsapp_templates_sync_if_configured() -> TemplateSyncResult | None:
    """The scheduled sync: ``whatsapp_templates_sync`` when WhatsApp is configured, else a no-op (None).

    Meta errors propagate (the task retries the retryable ones).
    """
    if not (getattr(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID", "") and settings.WHATSAPP_ACCESS_TOKEN
            and settings.WHATSAPP_PHONE_NUMBER_ID):
        return None
    try:
        return whatsapp_templates_sync()
    except ApplicationError as exc:
        if isinstance(exc.__cause__, IntegrationError) and not isinstance(exc.__cause__, NotConfigured):
            raise exc.__cause__ from None
        raise


# --- authors choose a template -------------------------------------------------------------------------


def _unfillable(components: Any) -> str:
    """Why a template's header or buttons need values we do not fill ("" when only the body has variables)."""
    for component in components or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type") or "").upper()
        if kind == "BODY" and _NAMED_VARIABLE.search(str(component.get("text") or "")):
            return "its body has named variables ({{first_name}}); only {{1}}, {{2}}... are filled"
        if kind == "HEADER":
            if str(component.get("format") or "TEXT").upper() != "TEXT":
                return "its header is a media or a location"
            if "{{" in str(component.get("text") or ""):
                return "its header has a variable"
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if isinstance(button, dict) and "{{" in str(button.get("url") or ""):
                    return "a button has a variable"
    return ""


def whatsapp_template_choose(template_id: int | None, *, max_parameters: int = CONTACT_PARAMETERS,
                             field: str = "whatsapp_template") -> WhatsAppTemplate | None:
    """The template an author chose (None for none), or a 400 naming ``field``.

    It must exist, be APPROVED (any language), take its variables in the body only, and at most
    ``max_parameters`` of them (what the message's purpose fills).
    """
    if template_id is None:
        return None
    template = WhatsAppTemplate.objects.filter(pk=template_id).first()
    problem = ""
    if template is None:
        problem, code = f"No WhatsApp template #{template_id}; sync the templates first.", "does_not_exist"
    elif template.status != APPROVED:
        problem, code = f"The template {template} is {template.status.lower()}, not approved.", "not_approved"
    elif template.body_parameter_count > max_parameters:
        problem, code = (f"The template {template} takes {template.body_parameter_count} variables; this "
                         f"message fills {max_parameters} at most.", "too_many_parameters")
    elif why := _unfillable(template.components):
        problem, code = f"The template {template} cannot be filled: {why}.", "unsupported"
    if problem:
        raise ApplicationError("The WhatsApp template cannot be used.", code="validation_error",
                               errors=[field_error(field, problem, code)])
    return template


def whatsapp_template_by_name(name: str) -> WhatsAppTemplate | None:
    """The approved template named ``name`` (settings name them), French first, else any language."""
    if not name:
        return None
    rows = list(WhatsAppTemplate.objects.filter(name=name, status=APPROVED))
    rows.sort(key=lambda t: (not t.language.lower().startswith("fr"), t.language))
    return rows[0] if rows else None


# --- filling the variables ------------------------------------------------------------------------------


def _first_name(contact: Any) -> str:
    return (getattr(contact, "first_name", "") or getattr(contact, "name", "") or FIRST_NAME_FALLBACK).strip()


def contact_parameters(contact: Any) -> list[str]:
    """Variables of a contact message: ``[first name, referral code]``."""
    return [_first_name(contact), str(getattr(contact, "referral_code", "") or "")]


def _amount(total_xaf: int | None) -> str:
    return f"{int(total_xaf or 0):,} FCFA".replace(",", "\u202f")


def order_parameters(contact: Any, *, order_number: str, status: str, total_xaf: int | None) -> list[str]:
    """Variables of an order message: ``[first name, order number, status (French), amount, referral code]``."""
    return [_first_name(contact), order_number, ORDER_STATUS_FR.get(status, status), _amount(total_xaf),
            str(getattr(contact, "referral_code", "") or "")]


def template_message_fields(template: WhatsAppTemplate | None, parameters: list[str]) -> dict[str, Any]:
    """The ``OutboundMessage`` fields of a message that falls back to ``template`` ({} without one).

    Keeps the first ``body_parameter_count`` values; an empty value becomes "-" (Meta refuses empty
    variables).
    """
    if template is None:
        return {}
    values = [(str(v).strip() or "-")[:1024] for v in parameters[:template.body_parameter_count]]
    values += ["-"] * (template.body_parameter_count - len(values))
    return {"template_name": template.name, "template_language": template.language,
            "template_parameters": values}


def outbound_enqueue_with_template(*, template: WhatsAppTemplate | None, parameters: list[str],
                                   **enqueue: Any) -> OutboundMessage:
    """``outbound_enqueue`` for a message that may fall back to a WhatsApp template outside the window.

    On WhatsApp with a template, the new row gets ``template_name``/``language``/``parameters`` in the
    same transaction (a dispatcher never sees it without them). Other channels ignore the template.
    """
    fields = template_message_fields(template, parameters) if enqueue.get("channel") == Channel.WHATSAPP else {}
    with transaction.atomic():
        message = outbound_enqueue(**enqueue)
        if fields and not message.template_name and message.state == OutboundMessage.State.SCHEDULED:
            OutboundMessage.objects.filter(pk=message.pk, template_name="").update(**fields)
            for name, value in fields.items():
                setattr(message, name, value)
    return message


# --- at send time ----------------------------------------------------------------------------------------


def template_refusal(message: OutboundMessage, *, now: datetime, can_receive: tuple[bool, str]) -> str:
    """Why ``message`` may not go as its WhatsApp template now ("" when it may): rules 1-3 of the module.

    ``can_receive`` is the contacts app's marketing verdict for the person on WhatsApp, asked once by
    the dispatcher. Reads the template row and, for a marketing template, the person's last 7 days.
    """
    if not message.template_name:
        return "template_required"
    template = WhatsAppTemplate.objects.filter(name=message.template_name,
                                               language=message.template_language).first()
    if template is None or template.status == DELETED:
        return "template_missing"
    if template.status in _PAUSED:
        return "template_paused"
    if template.status in _REJECTED:
        return "template_rejected"
    if template.status != APPROVED:
        return "template_pending"
    if len(message.template_parameters or []) != template.body_parameter_count:
        return "template_changed"
    if template.category == MARKETING:
        ok, why = can_receive
        if not ok:
            return why or "no_consent"
        if message.contact_id is not None and marketing_templates_sent(
                contact_id=message.contact_id, since=now - timedelta(days=7)) >= conf.get(
                "NURTURE_WHATSAPP_MARKETING_PER_WEEK"):
            return "marketing_limit"
    return ""


def marketing_templates_sent(*, contact_id: int, since: datetime) -> int:
    """How many MARKETING templates went to the contact on WhatsApp since ``since`` (sent, not failed)."""
    marketing = WhatsAppTemplate.objects.filter(category=MARKETING).values("name")
    return (OutboundMessage.objects.filter(contact_id=contact_id, channel=Channel.WHATSAPP,
                                           state=OutboundMessage.State.SENT, sent_at__gte=since)
            .exclude(template_name="").filter(template_name__in=marketing).count())


def template_drop_inside_window(message: OutboundMessage) -> None:
    """The window is open: the message goes as its free text, so it no longer names a template.

    Written on the row before the send so that it says what went out (and the per-person marketing
    count does not count a free text); a message put back for a later try goes as text then too.
    """
    if not message.template_name:
        return
    OutboundMessage.objects.filter(pk=message.pk).update(template_name="", template_language="",
                                                         template_parameters=None)
    message.template_name, message.template_language, message.template_parameters = "", "", None


def template_components(parameters: list[str] | None) -> list[dict[str, Any]]:
    """The ``components`` of a template send: the body's positional text variables."""
    if not parameters:
        return []
    return [{"type": "body", "parameters": [{"type": "text", "text": str(v)} for v in parameters]}]
