"""Meta webhooks: signature and subscription checks, and parsing of Messenger and WhatsApp payloads.

Pure functions over bytes and dicts (no HTTP, no Django), so the view stays a few lines:
verify the signature on the *raw* body, parse, hand the events to a service that deduplicates
them by ``event_id``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.meta.types import MessengerEvent, WhatsAppEvent

SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE_PREFIX = "sha256="


def verify_signature(raw_body: bytes, header_value: str | None, app_secret: str) -> bool:
    """Check ``X-Hub-Signature-256: sha256=<hex>`` = HMAC-SHA256(app_secret, raw body).

    False on a missing, malformed or wrong signature, and when no app secret is configured (an
    unconfigured secret must never make every payload look valid). Constant-time comparison.
    """
    if not app_secret or not header_value or not isinstance(raw_body, bytes | bytearray):
        return False
    value = header_value.strip()
    if not value.lower().startswith(_SIGNATURE_PREFIX):
        return False
    received = value[len(_SIGNATURE_PREFIX):].strip().lower()
    if len(received) != 64 or any(c not in "0123456789abcdef" for c in received):
        return False
    expected = hmac.new(app_secret.encode(), bytes(raw_body), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


def verify_challenge(params: Mapping[str, Any], verify_token: str) -> str | None:
    """Answer Meta's subscription handshake: return ``hub.challenge`` when it is ours, else None.

    Meta calls ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``; the endpoint must
    echo the challenge only when the token matches the one configured in the App Dashboard.
    """
    if not verify_token:
        return None
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if mode != "subscribe" or not isinstance(token, str) or not isinstance(challenge, str) or not challenge:
        return None
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        return None
    return challenge


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A seconds value above this is beyond the year 5138: it can only be milliseconds.
_MILLISECONDS_FROM = 10**11


def _timestamp(value: Any) -> datetime:
    """Meta timestamps as aware UTC datetimes: epoch milliseconds (Messenger) or seconds (WhatsApp).

    Int or numeric string. The unit is told by the size (some Messenger postbacks carry seconds), and
    the arithmetic stays in integers so that 1767261600123 ms is exactly 10:00:00.123 UTC, not a
    float's 10:00:00.122999. An absent or malformed value reads as the epoch.
    """
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return _EPOCH
    if not number.is_finite() or number < 0:
        return _EPOCH
    millis = int(number) if number > _MILLISECONDS_FROM else int(number * 1000)
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return _EPOCH


def _optional_timestamp(value: Any) -> datetime | None:
    return None if value is None or value == "" else _timestamp(value)


def _stable_id(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]
    return f"{parts[0]}:{digest}"


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _messenger_event(item: Mapping[str, Any], page_id: str) -> MessengerEvent:
    sender = item.get("sender") or {}
    psid = str(sender.get("id") or sender.get("user_ref") or "")
    raw_ts = item.get("timestamp")
    recipient_page = str((item.get("recipient") or {}).get("id") or page_id)

    message = item.get("message") if isinstance(item.get("message"), dict) else None
    postback = item.get("postback") if isinstance(item.get("postback"), dict) else None
    # A referral may come alone (messaging_referrals: the person reopened the thread from an ad or
    # m.me link), inside a message (first message after a click-to-Messenger ad) or inside a
    # postback (Get Started in a new thread opened from an ad or link).
    referral = item.get("referral") or (message or {}).get("referral") or (postback or {}).get("referral")
    if not isinstance(referral, dict):
        referral = {}
    ref = _str_or_none(referral.get("ref"))
    source = _str_or_none(referral.get("source"))

    text: str | None = None
    payload: str | None = None
    mids: tuple[str, ...] = ()
    watermark: datetime | None = None
    if message is not None and message.get("is_echo"):
        # An echo is our own outbound message reflected back: the Page is the sender.
        kind = "other"
        psid, recipient_page = str((item.get("recipient") or {}).get("id") or ""), str(sender.get("id") or page_id)
        event_id = str(message.get("mid") or _stable_id(kind, psid, raw_ts))
        text = _str_or_none(message.get("text"))
    elif message is not None:
        kind = "message"
        event_id = str(message.get("mid") or _stable_id(kind, psid, raw_ts))
        text = _str_or_none(message.get("text"))
        payload = _str_or_none((message.get("quick_reply") or {}).get("payload"))
    elif postback is not None:
        kind = "postback"
        event_id = str(postback.get("mid") or _stable_id(kind, psid, raw_ts, postback.get("payload"), ref))
        text = _str_or_none(postback.get("title"))
        payload = _str_or_none(postback.get("payload"))
    elif isinstance(item.get("delivery"), dict) or isinstance(item.get("read"), dict):
        # Receipts: "every message the Page sent before ``watermark`` was delivered / read".
        # A delivery receipt may come without a top-level timestamp; the watermark is then its time.
        kind = "delivery" if isinstance(item.get("delivery"), dict) else "read"
        receipt = item[kind]
        mids = tuple(str(m) for m in receipt.get("mids") or [] if m)
        watermark = _optional_timestamp(receipt.get("watermark"))
        if raw_ts is None:
            raw_ts = receipt.get("watermark")
        event_id = _stable_id(kind, psid, receipt.get("watermark") or raw_ts, *mids)
    elif referral:
        kind = "referral"
        event_id = _stable_id(kind, psid, raw_ts, ref)
    else:
        kind = "other"
        event_id = _stable_id(kind, psid, raw_ts, sorted(item.keys()))
    return MessengerEvent(
        event_id=event_id, psid=psid, page_id=recipient_page, timestamp=_timestamp(raw_ts), kind=kind,
        text=text, ref=ref, ad_id=_str_or_none(referral.get("ad_id")), source=source,
        is_ctm_ad=(source or "").upper() == "ADS", payload=payload, mids=mids, watermark=watermark,
    )


def parse_messenger(payload: Mapping[str, Any]) -> list[MessengerEvent]:
    """Flatten a Messenger webhook (``object == "page"``) into events, in delivery order.

    Reads ``entry[].messaging[]`` and ``entry[].standby[]`` (messages seen while another app owns the
    thread). A tapped quick reply is a ``"message"`` whose ``payload`` is the chip's payload and whose
    ``text`` is its title; ``message_deliveries`` and ``message_reads`` become ``"delivery"`` and
    ``"read"`` events with ``mids`` and ``watermark``. Timestamps are Meta's (epoch ms), in UTC. Anything else yields nothing; a malformed item yields kind ``"other"`` instead of raising,
    so one odd event never makes Meta redeliver the whole batch.
    """
    if not isinstance(payload, Mapping) or payload.get("object") != "page":
        return []
    events: list[MessengerEvent] = []
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        page_id = str(entry.get("id") or "")
        for key in ("messaging", "standby"):
            for item in entry.get(key) or []:
                if isinstance(item, dict):
                    events.append(_messenger_event(item, page_id))
    return events


_CTWA_REFERRAL_KEYS = ("source_id", "source_type", "source_url", "ctwa_clid", "headline", "body",
                       "media_type", "image_url", "video_url", "thumbnail_url")


def _message_text(message: Mapping[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "text":
        return _str_or_none((message.get("text") or {}).get("body"))
    if kind == "button":
        return _str_or_none((message.get("button") or {}).get("text"))
    if kind == "interactive":
        return _str_or_none(_interactive_reply(message).get("title"))
    for media in ("image", "video", "document"):
        if kind == media:
            return _str_or_none((message.get(media) or {}).get("caption"))
    return None


def _interactive_reply(message: Mapping[str, Any]) -> Mapping[str, Any]:
    interactive = message.get("interactive")
    if not isinstance(interactive, dict):
        return {}
    reply = interactive.get("button_reply") or interactive.get("list_reply")
    return reply if isinstance(reply, dict) else {}


def _reply_id(message: Mapping[str, Any]) -> str | None:
    """The stable id behind a tap: ``interactive`` button/list reply id, or a template button's payload."""
    if message.get("type") == "interactive":
        return _str_or_none(_interactive_reply(message).get("id"))
    if message.get("type") == "button" and isinstance(message.get("button"), dict):
        return _str_or_none(message["button"].get("payload"))
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _error_codes(errors: Any) -> tuple[int, ...]:
    return tuple(int(e["code"]) for e in errors or [] if isinstance(e, dict) and str(e.get("code", "")).isdigit())


def _status_event(status: Mapping[str, Any], phone_number_id: str) -> WhatsAppEvent:
    wamid = str(status.get("id") or "")
    state = str(status.get("status") or "")
    recipient = str(status.get("recipient_id") or "")
    errors = _list(status.get("errors"))
    first_error = next((e for e in errors if isinstance(e, dict)), {})
    pricing = _dict(status.get("pricing"))
    conversation = _dict(status.get("conversation"))
    billable = pricing.get("billable")
    return WhatsAppEvent(
        event_id=f"{wamid}:{state}", phone_e164=f"+{recipient}" if recipient else "",
        profile_name=None, phone_number_id=phone_number_id,
        timestamp=_timestamp(status.get("timestamp")), kind="status", message_id=wamid,
        status=state, error_codes=_error_codes(errors),
        pricing_category=_str_or_none(pricing.get("category")),
        billable=billable if isinstance(billable, bool) else None,
        pricing_model=_str_or_none(pricing.get("pricing_model")),
        pricing_type=_str_or_none(pricing.get("type")),
        conversation_id=_str_or_none(conversation.get("id")),
        error_title=_str_or_none(first_error.get("title") or first_error.get("message")),
    )


def parse_whatsapp(payload: Mapping[str, Any]) -> list[WhatsAppEvent]:
    """Flatten a WhatsApp Cloud API webhook (``object == "whatsapp_business_account"``) into events.

    Inbound messages (``value.messages[]``) become kind ``"message"``, with the click-to-WhatsApp
    ad ``referral`` (``source_id`` = ad id, ``source_type`` ``"ad"``, ``ctwa_clid`` ...) when present,
    and for a tapped reply button or list row (``interactive`` ``button_reply`` / ``list_reply``, or a
    template's quick-reply ``button``) its id in ``reply_id`` and its title in ``text``.
    Delivery reports (``value.statuses[]``) become kind ``"status"``, with Meta's error codes and the
    title of the first error, the per-message ``pricing`` (category, billable, model, type) and the
    conversation id. Every ``timestamp`` is Meta's: when the person wrote, when the status happened.
    """
    if not isinstance(payload, Mapping) or payload.get("object") != "whatsapp_business_account":
        return []
    events: list[WhatsAppEvent] = []
    for entry in payload.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                continue
            phone_number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            for message in value.get("messages") or []:
                if not isinstance(message, dict):
                    continue
                wa_id = str(message.get("from") or "")
                referral = message.get("referral")
                kept = ({k: referral[k] for k in _CTWA_REFERRAL_KEYS if k in referral}
                        if isinstance(referral, dict) else None)
                wamid = str(message.get("id") or "")
                context = message.get("context")
                events.append(WhatsAppEvent(
                    event_id=wamid, phone_e164=f"+{wa_id}" if wa_id else "", profile_name=names.get(wa_id),
                    phone_number_id=phone_number_id, timestamp=_timestamp(message.get("timestamp")),
                    kind="message" if message.get("type") != "unsupported" else "other",
                    text=_message_text(message), referral=kept,
                    is_ctwa_ad=kept is not None and str(kept.get("source_type", "")).lower() == "ad",
                    message_id=wamid, reply_id=_reply_id(message),
                    reply_to=_str_or_none(context.get("id")) if isinstance(context, dict) else None,
                    error_codes=_error_codes(message.get("errors")),
                ))
            for status in value.get("statuses") or []:
                if isinstance(status, dict):
                    events.append(_status_event(status, phone_number_id))
    return events
