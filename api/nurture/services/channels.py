"""Who gets a message, where and when: identities per channel, the channel choice, texts, sending windows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from api.common.businesstime import business_tz
from api.common.errors import ApplicationError, field_error
from api.contacts.enums import Channel
from api.contacts.selectors import contact_can_receive, contacts_audience

# The channels the outbox can send on (senders.deliver), in the default order of preference.
SUPPORTED_CHANNELS: tuple[str, ...] = (Channel.TELEGRAM, Channel.MESSENGER, Channel.WHATSAPP)


def parse_clock(value: str) -> dtime:
    """``"HH:MM"`` as a time of day."""
    hours, minutes = value.split(":", 1)
    return dtime(int(hours), int(minutes))


def validate_channels(channels: list[str]) -> None:
    """Raise a 400 unless ``channels`` is a non-empty list of channels the outbox can send on."""
    bad = [c for c in channels if c not in SUPPORTED_CHANNELS]
    if bad or not channels:
        raise ApplicationError("Channels must be a non-empty list of telegram, messenger, whatsapp.",
                               code="validation_error", errors=[field_error("channels", f"Unknown: {bad}")])


def validate_audience(audience: dict[str, Any]) -> None:
    """Raise a 400 on an audience filter the contacts app does not know."""
    contacts_audience(audience)


class _Vars(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_text(template: str, contact: Any) -> str:
    """Fill ``{first_name}``, ``{name}``, ``{salutation}``, ``{referral_code}`` with what the contact chose.

    A contact without a first name is greeted by the name they gave, else by nothing (the double
    space left is collapsed). Unknown variables stay as they are rather than failing a send.
    """
    first = getattr(contact, "first_name", "") or getattr(contact, "name", "") or ""
    values = _Vars(first_name=first, name=getattr(contact, "name", "") or first,
                   salutation=getattr(contact, "salutation", "") or "",
                   referral_code=getattr(contact, "referral_code", "") or "")
    try:
        text = template.format_map(values)
    except (ValueError, IndexError):
        text = template
    return " ".join(part for part in text.split(" ") if part != "") if "  " in text else text


def contact_recipient(contact: Any, channel: str) -> str:
    """The identity of ``contact`` on ``channel`` ("" when it has none)."""
    if channel == Channel.TELEGRAM:
        return str(contact.telegram_chat_id or "")
    if channel == Channel.MESSENGER:
        return str(contact.facebook_psid or "")
    if channel == Channel.WHATSAPP:
        return str(contact.whatsapp or contact.phone or "")
    return ""


def channel_choose(contact: Any, channels: Iterable[str]) -> str | None:
    """The first usable channel: the contact's preferred one wins over the sequence's order.

    Usable means the contact has the identity and ``contact_can_receive`` agrees now.
    """
    order: list[str] = []
    if getattr(contact, "preferred_channel", "") in SUPPORTED_CHANNELS:
        order.append(contact.preferred_channel)
    order += [c for c in channels if c in SUPPORTED_CHANNELS and c not in order]
    for channel in order:
        if contact_recipient(contact, channel) and contact_can_receive(contact.pk, channel)[0]:
            return channel
    return None


def window_next(at: datetime, start: dtime | None, end: dtime | None) -> datetime:
    """``at`` when it falls in the daily window [start, end) of the business time zone, else the next start.

    A window may cross midnight (22:00-06:00). No window (either bound None, or equal) allows any time.
    """
    if start is None or end is None or start == end:
        return at
    tz = business_tz()
    local = at.astimezone(tz)
    now_t = local.time()
    inside = (start <= now_t < end) if start < end else (now_t >= start or now_t < end)
    if inside:
        return at
    candidate = datetime.combine(local.date(), start, tzinfo=tz)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


# How staff messages name a messaging channel.
CHANNEL_LABELS: dict[str, str] = {Channel.TELEGRAM: "Telegram", Channel.WHATSAPP: "WhatsApp",
                                  Channel.MESSENGER: "Messenger"}
