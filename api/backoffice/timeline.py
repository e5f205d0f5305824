"""A customer's timeline as staff read it, in their language.

The apps write each timeline event with an English ``summary`` (for the API and the logs) and the facts
in ``data``; the card reads the facts back in the active language. Only the wording lives here (and which
events the card tells once, ``timeline_for_card``): an event whose kind is not known below shows its own
summary, so a new kind is never hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from api.backoffice.labels import LABELS, label
from api.backoffice.templatetags.backoffice import fcfa
from api.campaigns.enums import CampaignChannel
from api.contacts.registry import ERASED_TEXT

# Every channel an event of the timeline may name: the ways we talk with a person (``Channel``, in
# ``labels``), the two more a touch may have (``web``, ``other``: campaigns' TOUCHPOINT_CHANNELS), and a
# campaign's channels (``CampaignChannel``) for a touch that carries its campaign's. A value none of
# them knows (a channel added later) reads "autre canal (…)", never as its raw key alone.
_CHANNELS: dict[str, Promise] = {
    CampaignChannel.FACEBOOK_ADS: gettext_lazy("Facebook ads"),
    CampaignChannel.FACEBOOK_PAGE: gettext_lazy("Facebook page"),
    CampaignChannel.WORD_OF_MOUTH: gettext_lazy("Word of mouth"),
    CampaignChannel.TASTING: gettext_lazy("Tasting"),
    CampaignChannel.FAIR: gettext_lazy("Fair"),
    CampaignChannel.FLYER: gettext_lazy("Flyer"),
    CampaignChannel.REFERRAL: gettext_lazy("Referral"),
    CampaignChannel.OTHER: gettext_lazy("Other channel"),
    "web": gettext_lazy("Website"),
    "unknown": gettext_lazy("Unknown channel"),  # campaigns' and attribution's UNKNOWN_CHANNEL
    **LABELS["channel"],
}


def channel_label(value: str | None) -> str:
    """How the timeline names the channel ``value``, in the active language: its name when known, else
    "another channel" with the value made readable (underscores as spaces)."""
    if not value:
        return str(_CHANNELS["unknown"])
    name = _CHANNELS.get(value)
    if name is not None:
        return str(name)
    return _("Other channel (%(name)s)") % {"name": value.replace("_", " ")}




def _words(text: Any) -> str:
    """Words a person wrote or we sent them, as stored; the erasers' marker in the active language."""
    return _("(erased)") if text == ERASED_TEXT else str(text or "")


def _channel(data: Mapping[str, Any]) -> str:
    return channel_label(data.get("channel"))


# How a consent changed, as nurture's inbound pipeline wrote it before it wrote it the way staff read it
# (in French, without the channel the line already names): an older record reads like a new one.
_OLD_HOWS = {"bot /start": "a démarré le bot", "STOP": "a écrit STOP",
             "a écrit en premier": "a écrit en premier"}
_CHANNEL_AFTER = re.compile(r" \(\w+\)$")


def _how(data: Mapping[str, Any]) -> str:
    how = data.get("how") or ""
    how = _OLD_HOWS.get(_CHANNEL_AFTER.sub("", how), how)
    return f" ({how})" if how else ""


def _reason(code: str | None) -> str:
    """A message's or a sequence's reason code as staff read it (the code itself when not named)."""
    return label("message_reason", code)


def _lifecycle(data: Mapping[str, Any]) -> str:
    text = _("Stage: %(from)s → %(to)s") % {"from": label("stage", data.get("from")),
                                              "to": label("stage", data.get("to"))}
    reason = data.get("reason") or ""
    return f"{text} ({reason})" if reason else text


def _order_status(data: Mapping[str, Any]) -> str:
    return _("Order %(number)s: %(from)s → %(to)s") % {
        "number": data.get("number", ""), "from": label("order_status", data.get("from")),
        "to": label("order_status", data.get("to"))}


def _refund(data: Mapping[str, Any]) -> str:
    """A refund (orders' source, kind ``order_refund``): its amount, its order and the reason staff gave."""
    text = _("Refund of %(amount)s on %(number)s") % {"amount": fcfa(data.get("amount_xaf")),
                                                       "number": data.get("number", "")}
    reason = data.get("reason") or ""
    return f"{text} ({reason})" if reason else text


def _message(verb: Any) -> Callable[[Mapping[str, Any]], str]:
    def text(data: Mapping[str, Any]) -> str:
        head = verb % {"channel": _channel(data)}
        reason = data.get("reason") or ""
        what = f"{head} ({_reason(reason)})" if reason else head
        return _("%(what)s: %(text)s") % {"what": what, "text": _words(data.get("text"))}
    return text


# How much of the person's words nurture's inbound source keeps in an event's English summary.
_SUMMARY_TEXT_CUT = 120

# What the inbound pipeline made of a message (nurture's ``InboundMessage.action``), as staff read it; any
# other message "was received".
_INBOUND_VERBS = {
    "stop": gettext_lazy("Asked to stop (STOP) on %(channel)s"),
    "monthly": gettext_lazy("Chose one message a month on %(channel)s"),
    "source": gettext_lazy("Said how they heard of us on %(channel)s"),
    "welcome": gettext_lazy("First contact on %(channel)s (welcomed)"),
}


def _inbound(event: Any, data: Mapping[str, Any]) -> str:
    """A message the person wrote to us (nurture's inbound source, kind ``inbound_<action or kind>``), framed in
    French around their own words: ``data["text"]`` as they wrote it. An event that does not carry it keeps
    its words only in its English summary ("<verb> on <channel>: <text cut at 120 characters>"), so they are
    read from there, marked as perhaps cut."""
    verb = _INBOUND_VERBS.get(data.get("action") or "", gettext_lazy("Message received on %(channel)s"))
    head = verb % {"channel": _channel(data)}
    if "text" in data:
        text = _words(data.get("text"))
    else:
        text = _words(event.summary.partition(": ")[2])
        if len(text) >= _SUMMARY_TEXT_CUT:
            text += "…"
    if text:
        return _("%(what)s: %(text)s") % {"what": head, "text": text}
    if data.get("kind") == "other":  # a photo, a voice note, a sticker, a location: words staff must open the chat for
        return _("%(what)s (no text: a photo, a voice note…)") % {"what": head}
    return head


def _enrolled(data: Mapping[str, Any]) -> str:
    text = _("Enrolled in the sequence “%(name)s”") % {"name": data.get("sequence", "")}
    stopped = data.get("stopped_reason") or ""
    return text + (_(", stopped: %(reason)s") % {"reason": _reason(stopped)} if stopped else "")


# kind -> the event's text from its data (called with the active language).
_TEXTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "created": lambda d: _("Contact created"),
    "merged": lambda d: _("Contact #%(id)s merged into this one") % {"id": d.get("source_id", "?")},
    "erased": lambda d: _("Personal data erased at the person's request"),
    "lifecycle_changed": _lifecycle,
    "identities_changed": lambda d: _("Identities updated: %(fields)s") % {"fields": ", ".join(d.get("fields", []))},
    "consent_granted": lambda d: _("Agreed to messages on %(channel)s") % {"channel": _channel(d)} + _how(d),
    "consent_revoked": lambda d: _("No more messages on %(channel)s") % {"channel": _channel(d)} + _how(d),
    "opted_out": lambda d: _("Wants no more messages at all") + _how(d),
    "unreachable": lambda d: _("Unreachable on %(channel)s: %(reason)s") % {"channel": _channel(d),
                                                                             "reason": _reason(d.get("reason"))},
    "order_placed": lambda d: _("Order %(number)s: %(total)s") % {"number": d.get("number", ""),
                                                                  "total": fcfa(d.get("total_xaf"))},
    "order_status": _order_status,
    "order_refund": _refund,
    "gift_received": lambda d: _("Gift %(number)s from %(buyer)s") % {"number": d.get("number", ""),
                                                                       "buyer": d.get("buyer", "")},
    "order_feedback": lambda d: _("Rated order %(number)s %(rating)s/5") % {"number": d.get("number", ""),
                                                                             "rating": d.get("rating", "")},
    "complaint": lambda d: _("Complaint (%(state)s): %(text)s") % {"state": label("complaint_state", d.get("state")),
                                                                   "text": _words(d.get("text"))},
    "message_sent": _message(gettext_lazy("Message sent on %(channel)s")),
    "message_failed": _message(gettext_lazy("Message failed on %(channel)s")),
    "message_skipped": _message(gettext_lazy("Message not sent on %(channel)s")),
    "sequence_enrolled": _enrolled,
}


def timeline_text(event: Any) -> str:
    """What ``event`` (an ``api.contacts`` ``TimelineEvent``) says, in the active language: from its
    facts when its kind is known here, else its own summary."""
    kind, data = event.kind, event.data or {}
    if kind.startswith("touchpoint."):
        text = _("%(kind)s on %(channel)s") % {"kind": label("touchpoint_kind", kind.split(".", 1)[1]),
                                                "channel": _channel(data)}
        code = data.get("campaign_code")
        return _("%(text)s, campaign %(code)s") % {"text": text, "code": code} if code else text
    if kind.startswith("inbound_") and "channel" in data:
        return _inbound(event, data)
    render = _TEXTS.get(kind)
    if render is None or (kind.startswith("message_") and "text" not in data):
        return event.summary
    return render(data)


def timeline_for_card(events: Iterable[Any]) -> list[Any]:
    """The events the customer card shows, newest first as given, each fact told once.

    The inbound pipeline records a touch (``touchpoint.inbound_message``, ``self_reported_source``...) beside
    every message a person writes, at the same time on the same channel: on the card it would read twice
    ("Nous a écrit (WhatsApp)" under "Message reçu sur WhatsApp : …"). Such a touch is left out, unless it
    names a campaign (the message's line does not say where the person came from).
    """
    events = list(events)
    written = {(e.at, (e.data or {}).get("channel")) for e in events if e.kind.startswith("inbound_")}
    return [e for e in events
            if not (e.kind.startswith("touchpoint.") and not (e.data or {}).get("campaign_code")
                    and (e.at, (e.data or {}).get("channel")) in written)]
