"""The inbound pipeline: what a person writes on Telegram, WhatsApp or Messenger is handled one way.

Each channel's adapter turns a provider event into an ``Inbound`` (the Telegram bot in ``bot``, the
Meta webhook in ``meta_events_process`` below) and hands it to ``inbound_receive``, which, in one
transaction per event:

1. finds or creates the contact of the sender's identity;
2. records the message once (``InboundMessage``: text intact, the provider's own time, unique per
   channel and provider id, so that a redelivered webhook changes nothing);
3. records the inbound touchpoint at the time the person wrote;
4. acts on it, the same way on every channel:

   - a stop word (``STOP``, ``ARRÊT``, ``DÉSABONNER``, ``UNSUBSCRIBE``..., the whole message, any case or
     accent) stops marketing on that channel at once: consent revoked, queued marketing cancelled,
     the channel's sequences stopped; the reply confirms and offers "Un message par mois" as a
     way back in, which re-grants consent with a monthly frequency only when the person taps it;
   - an answer to "Comment nous avez-vous connus ?" is stored as a stable key (``SOURCE_CHOICES``);
     an answer the bot does not know is stored as ``other`` with the raw value, and logged;
   - a newcomer (or a Telegram ``/start``) gets consent on the channel, the introduction, the source
     question as buttons, the introduction or campaign sequence, and staff hear of the new lead; a
     referral code typed at entry (a ``/start`` payload, an m.me ``ref``, a code in a first WhatsApp
     message) makes its owner the newcomer's referrer;
   - any other message is a reply: sequences that stop on reply stop, the lead scores, staff get a copy.

Delivery statuses (WhatsApp ``statuses``, Messenger ``delivery`` / ``read``) are not messages of the
person: ``meta_events_process`` hands them to ``services.delivery``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from api.campaigns.enums import TouchpointKind
from api.campaigns.selectors import (
    campaign_find_code_in_text,
    campaign_for_facebook_ids,
    campaign_resolve_code,
)
from api.campaigns.services import touchpoint_record
from api.common.errors import ApplicationError
from api.contacts.enums import Channel
from api.contacts.registry import ERASED_TEXT
from api.contacts.services import (
    consent_grant,
    consent_revoke,
    contact_event_record,
    contact_update,
    contact_upsert,
    referral_code_apply,
)
from api.nurture.enums import Purpose
from api.nurture.models import Enrollment, InboundMessage, NurtureProfile, OutboundMessage, Sequence
from api.nurture.senders import buttons_markup
from api.nurture.services.channels import CHANNEL_LABELS, render_text
from api.nurture.services.delivery import messenger_receipt_apply, outbound_status_apply
from api.nurture.services.inbox import conversation_inbound_record
from api.nurture.services.outbox import outbound_enqueue, staff_notify
from api.nurture.services.scoring import lead_score_record, nurture_profile_get
from api.nurture.services.sequences import enrollment_create, enrollment_stop, enrollments_stop_for_contact

logger = logging.getLogger(__name__)

State = OutboundMessage.State
Category = OutboundMessage.Category
Kind = InboundMessage.Kind

# --- what the bot says and offers (French: customers read it) ---------------------------------------------

INTRO_TEXT = ("Bonjour {first_name} ! Bienvenue chez Confiotes 🍹 : sirops, liqueurs et coffrets "
              "faits au Cameroun. Écrivez-nous ici à tout moment ; tapez STOP pour ne plus recevoir de messages.")
SOURCE_QUESTION = "Comment nous avez-vous connus ?"
SOURCE_THANKS = "Merci ! 🙏"
STOP_CONFIRM = ("C'est noté : vous ne recevrez plus de messages de Confiotes ici. Si vous préférez garder "
                "un lien, choisissez « Un message par mois ».")
MONTHLY_LABEL = "Un message par mois"
MONTHLY_CONFIRM = "C'est noté : vous ne recevrez plus qu'un message par mois."

# Answers to "Comment nous avez-vous connus ?": stable key (stored on the contact as
# ``self_reported_source``) -> the French label on the button. Labels stay within 20 characters, the
# longest title a WhatsApp reply button or a Messenger quick reply shows whole.
SOURCE_CHOICES: list[tuple[str, str]] = [
    ("word_of_mouth", "Bouche-à-oreille"),
    ("facebook", "Facebook"),
    ("whatsapp", "WhatsApp"),
    ("instagram", "Instagram"),
    ("tasting", "Une dégustation"),
    ("fair", "Un salon, une foire"),
    ("reseller", "Un revendeur"),
    ("other", "Autre"),
]
SOURCE_LABELS: dict[str, str] = dict(SOURCE_CHOICES)
OTHER_SOURCE = "other"
# Before stable keys the Telegram bot sent ``src:friend`` and stored its French labels on the contact;
# keyboards already in people's chats still send the old key, and stored labels still read as these keys.
_LEGACY_SOURCE_KEYS = {"friend": "word_of_mouth"}
_LEGACY_SOURCE_LABELS = {"un ami / bouche-a-oreille": "word_of_mouth", "une degustation": "tasting",
                         "un salon / une foire": "fair", "un revendeur": "reseller", "autre": "other"}

# Ids of the buttons the bot sends; they come back as Telegram callback_data, a WhatsApp reply id or a
# Messenger quick-reply payload.
SOURCE_PREFIX = "src:"
MONTHLY_CHOICE = "freq:monthly"
LEGACY_STOP_CHOICE = "stop:all"  # "Ne plus rien recevoir", on Telegram keyboards sent before 2026-12

# Whole messages that mean "stop sending me messages", compared without case, accents or punctuation.
STOP_WORDS = frozenset({
    "stop", "stopper", "stop all", "stop tout", "arret", "arreter", "arretez", "arrete", "arret svp",
    "desabonner", "desabonnez moi", "se desabonner", "desabonnement", "desinscrire", "desinscription",
    "me desinscrire", "unsubscribe", "opt out", "optout", "stop svp", "stop merci",
    # The opt-out button of WhatsApp marketing templates, and what people type after a promotion.
    "stop promotions", "stop promo", "stop promos", "arreter les promotions",
})
# Messages that are the person talking to us (a reply), as opposed to a start, a link opened, a postback.
_REPLY_KINDS = (Kind.TEXT, Kind.BUTTON, Kind.OTHER)


def fold(text: str | None) -> str:
    """``text`` lower-cased, without accents or punctuation, spaces collapsed: how words are compared."""
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().casefold()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def is_stop_word(text: str | None) -> bool:
    """True when the whole message asks to stop (``STOP``, ``Arrêt !``, ``/stop``, ``/stop@ConfiotesBot``...)."""
    raw = (text or "").strip()
    command = re.fullmatch(r"/(\w+)(@\w+)?", raw)
    return fold(command.group(1) if command else raw) in STOP_WORDS


def source_key(value: str | None) -> str | None:
    """The stable key of a stated source: a key, a button label, or a label stored before keys existed.

    None when ``value`` is none of those (free text typed by staff keeps its words).
    """
    if not value:
        return None
    if value in SOURCE_LABELS:
        return value
    folded = fold(value)
    for key, label in SOURCE_CHOICES:
        if folded == fold(label):
            return key
    return _LEGACY_SOURCE_KEYS.get(value) or _LEGACY_SOURCE_LABELS.get(
        unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().casefold().strip())


def source_label(value: str | None) -> str:
    """The French label of a stated source for people (the value itself when it is no known key)."""
    key = source_key(value)
    return SOURCE_LABELS[key] if key else (value or "")


# --- the message as the pipeline sees it -----------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """One event of a person, whatever the channel, as the adapters hand it over.

    - ``identity``: the ``contact_upsert`` identity (``{"whatsapp": "+2376..."}``); ``updates``: values
      refreshed on every message (a Telegram username); ``new_contact``: values only a new contact gets
      (names from the provider: they never overwrite what staff typed).
    - ``event_key``: the touchpoint's provider event id (``tg:<update_id>``, ``whatsapp:<wamid>``,
      ``messenger:<mid>``), also the base of the reply keys and of the score reference.
    - ``start_code``: the campaign code the person came with (sequences of that code enroll them);
      ``referral_codes``: codes typed at entry that may be a contact's personal referral code.
    """

    channel: str
    sender: str
    provider_message_id: str
    event_key: str
    occurred_at: datetime
    kind: str = Kind.TEXT
    text: str = ""
    payload: str = ""
    identity: Mapping[str, Any] = field(default_factory=dict)
    updates: Mapping[str, Any] = field(default_factory=dict)
    new_contact: Mapping[str, Any] = field(default_factory=dict)
    touch_kind: str = TouchpointKind.INBOUND_MESSAGE
    campaign_id: int | None = None
    campaign_code: str | None = None
    touch_details: Mapping[str, Any] = field(default_factory=dict)
    start_code: str = ""
    referral_codes: tuple[str, ...] = ()
    referral_via: str = ""
    consent_how: str = ""


class _Duplicate(Exception):
    """A concurrent delivery of the same event stored it first: undo this one's writes."""


def inbound_receive(message: Inbound) -> InboundMessage | None:
    """Handle one event of a person (see the module docstring); None when it was already handled.

    Atomic: a failure leaves nothing behind, so the provider's redelivery (or the Telegram retry)
    starts again from scratch. Idempotent per ``(channel, provider_message_id)``: a redelivery finds
    the stored row and changes nothing; two simultaneous deliveries meet on the unique constraint.
    A contact the identity cannot be given to (an erased person's identity, an identity conflict)
    raises the contacts app's ``ApplicationError``.
    """
    key = {"channel": message.channel, "provider_message_id": message.provider_message_id[:200]}
    if InboundMessage.objects.filter(**key).exists():
        return None
    try:
        with transaction.atomic():
            result = contact_upsert(**message.identity, **{k: v for k, v in message.updates.items() if v})
            contact, created = result.contact, result.created
            fill = {k: v for k, v in message.new_contact.items() if v}
            if created and fill:
                contact = contact_upsert(**message.identity, **fill).contact
            try:
                with transaction.atomic():
                    row = InboundMessage.objects.create(
                        **key, contact=contact, sender=message.sender[:64], kind=message.kind, text=message.text,
                        payload=message.payload[:300], occurred_at=message.occurred_at,
                        details={k: v for k, v in message.touch_details.items() if k != "text"})
            except IntegrityError:
                raise _Duplicate from None
            conversation_inbound_record(row=row)  # the staff inbox: the conversation exists, reopened if done
            row.action = _act(message, row, contact, created)
            row.save(update_fields=["action"])
    except _Duplicate:
        return None
    return row


# --- what the pipeline does with a message ----------------------------------------------------------------


def _act(message: Inbound, row: InboundMessage, contact: Any, created: bool) -> str:
    """Decide what the message means and do it; returns the ``InboundMessage.action``."""
    payload = message.payload if message.kind in (Kind.BUTTON, Kind.POSTBACK) else ""
    if payload == MONTHLY_CHOICE:
        _touch(message, contact, action="monthly")
        _monthly(message, contact)
        return "monthly"
    if payload == LEGACY_STOP_CHOICE or (message.kind in (Kind.TEXT, Kind.BUTTON) and is_stop_word(message.text)):
        _touch(message, contact, action="stop")
        _stop(message, contact)
        return "stop"
    if payload.startswith(SOURCE_PREFIX):
        _source_answer(message, row, contact)
        return "source"
    _touch(message, contact)
    entry = message.kind == Kind.START or created
    if entry:
        _welcome(message, row, contact, created)
    if message.kind in _REPLY_KINDS:
        _question(message, row, contact, created)
    # "welcome" on every channel for a first contact (a Telegram /start, a first WhatsApp or Messenger
    # message, an m.me link opened), even when its words were also copied to staff as a question.
    if entry:
        return "welcome"
    return "question" if message.kind in _REPLY_KINDS else message.kind


def _touch(message: Inbound, contact: Any, *, action: str = "") -> None:
    """The inbound touchpoint, at the time the person wrote (a duplicate id records nothing)."""
    details = {**message.touch_details, "text": (message.text or "")[:500] or None,
               "action": action or None}
    touchpoint_record(contact_id=contact.pk, channel=message.channel, kind=message.touch_kind,
                      campaign_id=message.campaign_id, campaign_code=message.campaign_code,
                      occurred_at=message.occurred_at, provider_event_id=message.event_key,
                      details={k: v for k, v in details.items() if v not in (None, "", False)})


def _reply_key(message: Inbound, suffix: str) -> str:
    # Messenger mids can be long: a hashed base keeps ``<base>:<suffix>`` within the key's 120 characters.
    base = message.event_key
    if len(base) > 90:
        base = f"{message.channel[:2]}:h{hashlib.sha256(base.encode()).hexdigest()[:40]}"
    return f"{base}:{suffix}"


def _reply(message: Inbound, contact: Any, suffix: str, text: str,
           choices: list[tuple[str, str]] | None = None) -> None:
    """Queue a service reply on the channel the person wrote from, once per message and ``suffix``."""
    outbound_enqueue(idempotency_key=_reply_key(message, suffix), channel=message.channel, recipient=message.sender,
                     text=text, contact_id=contact.pk, category=Category.SERVICE,
                     reply_markup=buttons_markup(choices) if choices else None)


def _stop(message: Inbound, contact: Any) -> None:
    """STOP: no more marketing on this channel from now on; only the confirmation goes out.

    Consent on the channel is revoked (``can-receive`` says no at once), queued marketing on the channel
    is cancelled and the sequences sending on it stop. The confirmation offers "Un message par mois":
    a way back in that the person may take, never a condition.
    """
    # ``how`` is read by staff beside the channel's name ("Plus de messages sur WhatsApp (a écrit STOP)").
    consent_revoke(contact_id=contact.pk, channel=message.channel, how="a écrit STOP")
    OutboundMessage.objects.filter(contact_id=contact.pk, channel=message.channel, state=State.SCHEDULED,
                                   category=Category.MARKETING).update(
        state=State.CANCELLED, reason="opted_out", claim_token="", claimed_until=None, updated_at=timezone.now())
    on_channel = (OutboundMessage.objects.filter(contact_id=contact.pk, channel=message.channel,
                                                 enrollment__state=Enrollment.State.ACTIVE)
                  .values_list("enrollment_id", flat=True).distinct())
    for enrollment_id in list(on_channel):
        enrollment_stop(enrollment_id=enrollment_id, reason="opted_out")
    _reply(message, contact, "stop-confirm", STOP_CONFIRM, [(MONTHLY_CHOICE, MONTHLY_LABEL)])


def _monthly(message: Inbound, contact: Any) -> None:
    """"Un message par mois": consent on this channel again, one marketing message a month at most."""
    consent_grant(contact_id=contact.pk, channel=message.channel, how="a choisi un message par mois")
    profile = nurture_profile_get(contact.pk)
    NurtureProfile.objects.filter(pk=profile.pk).update(frequency=NurtureProfile.Frequency.MONTHLY)
    enrollments_stop_for_contact(contact_id=contact.pk, reason="monthly_only", keep_purposes=[Purpose.MONTHLY])
    contact_event_record(contact_id=contact.pk, kind="frequency_changed",
                         summary=f"Ne veut plus qu'un message par mois ({CHANNEL_LABELS.get(message.channel)})",
                         data={"channel": message.channel, "frequency": NurtureProfile.Frequency.MONTHLY})
    _reply(message, contact, "monthly-confirm", MONTHLY_CONFIRM)


def _source_answer(message: Inbound, row: InboundMessage, contact: Any) -> None:
    """An answer to "Comment nous avez-vous connus ?": the stable key on the contact, a stated-source touch.

    A key the bot does not know (an old keyboard, a tampered payload) is kept as ``other`` with the raw
    value on the touchpoint and the message, and logged: never dropped.
    """
    raw = message.payload[len(SOURCE_PREFIX):]
    key = raw if raw in SOURCE_LABELS else _LEGACY_SOURCE_KEYS.get(raw)
    details: dict[str, Any] = {"self_reported_source": key or OTHER_SOURCE,
                               "label": SOURCE_LABELS[key or OTHER_SOURCE]}
    if key is None:
        logger.warning("unknown answer to the source question on %s: %r (stored as other)", message.channel,
                       raw[:100])
        details["raw"] = raw[:200]
        row.details = {**row.details, "unknown_source": raw[:200]}
        row.save(update_fields=["details"])
    contact_update(contact_id=contact.pk, self_reported_source=details["self_reported_source"])
    touchpoint_record(contact_id=contact.pk, channel=message.channel, kind=TouchpointKind.SELF_REPORTED_SOURCE,
                      occurred_at=message.occurred_at, provider_event_id=message.event_key, details=details)
    lead_score_record(contact_id=contact.pk, kind="self_reported_source", ref=message.event_key)
    _reply(message, contact, "source-thanks", SOURCE_THANKS)


def _welcome(message: Inbound, row: InboundMessage, contact: Any, created: bool) -> None:
    """A newcomer, or a Telegram ``/start``: consent, introduction, source question, sequences, staff, referral."""
    consent_grant(contact_id=contact.pk, channel=message.channel,
                  how=message.consent_how or "a écrit en premier")
    _reply(message, contact, "intro", render_text(INTRO_TEXT, contact))
    if not contact.self_reported_source:
        _reply(message, contact, "source", SOURCE_QUESTION,
               [(f"{SOURCE_PREFIX}{key}", label) for key, label in SOURCE_CHOICES])
    if message.kind == Kind.START:
        lead_score_record(contact_id=contact.pk, kind="bot_start", ref=message.event_key)
    if created:
        _referral_apply(message, contact)
        if message.kind not in _REPLY_KINDS:  # else the copy of the first message brings the news
            staff_notify(key=f"new_lead:{contact.pk}", text=_new_lead_text(message, contact))
    code = message.start_code.strip().upper()
    sequences = list(Sequence.objects.filter(purpose=Purpose.CAMPAIGN, campaign_code=code, is_active=True)) \
        if code else []
    if not sequences and created:
        sequences = list(Sequence.objects.filter(purpose=Purpose.INTRODUCTION, is_active=True))
    for sequence in sequences:
        enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk,
                          trigger="bot_start" if code else "new_contact")


def _referral_apply(message: Inbound, contact: Any) -> None:
    """A newcomer who came with a friend's personal code gets that friend as referrer (first code that works)."""
    for code in message.referral_codes[:5]:
        if referral_code_apply(contact_id=contact.pk, code=code, via=message.referral_via):
            return


def _who(contact: Any) -> str:
    username = getattr(contact, "telegram_username", "") or ""
    return f"{contact.display_name}{' @' + username if username else ''} (#{contact.pk})"


def _new_lead_text(message: Inbound, contact: Any) -> str:
    code = message.start_code.strip().upper()
    return (f"🆕 Nouveau prospect {CHANNEL_LABELS.get(message.channel, message.channel)} : {_who(contact)}"
            f"{', campagne ' + code if code else ''}.")


def _question(message: Inbound, row: InboundMessage, contact: Any, created: bool) -> None:
    """Any other message is a reply: reply-stopped sequences stop, the lead scores, staff get a copy.

    The copy's key names the stored message (``staff:inbound:<InboundMessage id>``), so that a staff
    reply to it can find the person and the channel.
    """
    enrollments_stop_for_contact(contact_id=contact.pk, reason="replied", on_reply=True)
    lead_score_record(contact_id=contact.pk, kind="inbound_message", ref=message.event_key)
    said = message.text or "📎 (message sans texte)"
    where = CHANNEL_LABELS.get(message.channel, message.channel)
    if created:
        head = _new_lead_text(message, contact).rstrip(".")
        staff_notify(key=f"inbound:{row.pk}", text=f"{head} : {said}")
    else:
        staff_notify(key=f"inbound:{row.pk}", text=f"💬 {_who(contact)} sur {where} : {said}")


# --- Meta webhooks: Messenger and WhatsApp events ---------------------------------------------------------


def _messenger_inbound(event: Any) -> Inbound:
    campaign = campaign_resolve_code(event.ref) if event.ref else None
    if campaign is None and event.ad_id:
        campaign = campaign_for_facebook_ids(ad_id=event.ad_id)
    has_referral = bool(event.ref or event.ad_id or event.source)
    if has_referral and event.is_ctm_ad:
        touch_kind = TouchpointKind.AD_REFERRAL
    elif has_referral:
        touch_kind = TouchpointKind.LINK_CLICK  # an m.me link (source SHORTLINK) or a QR code
    else:
        touch_kind = TouchpointKind.INBOUND_MESSAGE
    if event.kind == "referral":
        kind = Kind.REFERRAL
    elif event.kind == "postback":
        kind = Kind.POSTBACK
    elif event.payload:
        kind = Kind.BUTTON  # a quick reply: the payload is our id, the text its title
    else:
        kind = Kind.TEXT if event.text else Kind.OTHER
    details = {"event": event.kind, "ref": event.ref, "ad_id": event.ad_id, "source": event.source,
               "ctm_ad": bool(event.is_ctm_ad)}
    ref_is_code = bool(event.ref) and campaign_resolve_code(event.ref) is None
    return Inbound(
        channel=Channel.MESSENGER, sender=event.psid, provider_message_id=event.event_id,
        event_key=f"messenger:{event.event_id}", occurred_at=event.timestamp, kind=kind, text=event.text or "",
        payload=event.payload or event.ref or "", identity={"facebook_psid": event.psid},
        new_contact={"acquisition_channel": campaign.channel if campaign else Channel.MESSENGER},
        touch_kind=touch_kind, campaign_id=campaign.pk if campaign else None,
        campaign_code=None if campaign else event.ref, touch_details={k: v for k, v in details.items() if v},
        start_code=campaign.code if campaign else "", referral_codes=(event.ref,) if ref_is_code else (),
        referral_via="messenger_ref")


# A referral code inside a first WhatsApp message ("Bonjour, code AMB7K2"): the word after one of these,
# else any word written like a code (capitals or digits, 5 to 32 characters).
_CODE_WORDS = ("code", "parrain", "parrainage", "ref")
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,40}")


def _referral_candidates(text: str, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Words of ``text`` that may be a referral code, the most likely first (the whole text first)."""
    skip = {fold(x) for x in exclude}
    words = _WORD_RE.findall(text or "")
    candidates: list[str] = []
    if len(words) == 1:
        candidates.append(words[0])
    for index, word in enumerate(words[:-1]):
        if word.lower() in _CODE_WORDS:
            candidates.append(words[index + 1])
    candidates += [w for w in words if 5 <= len(w) <= 32 and (w.isupper() or any(c.isdigit() for c in w))]
    unique: list[str] = []
    for candidate in candidates:
        if candidate not in unique and fold(candidate) not in skip and candidate.lower() not in _CODE_WORDS:
            unique.append(candidate)
    return tuple(unique)


def _whatsapp_inbound(event: Any) -> Inbound:
    referral = event.referral or {}
    campaign = None
    if referral.get("source_id"):
        campaign = campaign_for_facebook_ids(ad_id=str(referral["source_id"]))
    if campaign is None:
        campaign = campaign_find_code_in_text(event.text)
    if campaign is None and referral:
        campaign = campaign_find_code_in_text(f"{referral.get('headline', '')} {referral.get('body', '')}")
    reply_id = event.reply_id or ""
    if reply_id:
        kind = Kind.BUTTON
    else:
        kind = Kind.TEXT if event.text else Kind.OTHER
    details: dict[str, Any] = {"ctwa_ad": bool(event.is_ctwa_ad)}
    if referral:
        details["referral"] = {k: referral[k] for k in ("source_id", "source_type", "source_url", "ctwa_clid",
                                                        "headline") if k in referral}
    return Inbound(
        channel=Channel.WHATSAPP, sender=event.phone_e164, provider_message_id=event.event_id,
        event_key=f"whatsapp:{event.event_id}", occurred_at=event.timestamp, kind=kind, text=event.text or "",
        payload=reply_id, identity={"whatsapp": event.phone_e164},
        new_contact={"name": event.profile_name,
                     "acquisition_channel": campaign.channel if campaign else Channel.WHATSAPP},
        touch_kind=TouchpointKind.AD_REFERRAL if event.is_ctwa_ad else TouchpointKind.INBOUND_MESSAGE,
        campaign_id=campaign.pk if campaign else None, touch_details={k: v for k, v in details.items() if v},
        start_code=campaign.code if campaign else "",
        referral_codes=() if kind != Kind.TEXT else _referral_candidates(
            event.text or "", exclude=[campaign.code] if campaign else []),
        referral_via="whatsapp_text")


def _status_apply(event: Any) -> str:
    if not event.message_id or not event.status:
        return "ignored"
    applied = outbound_status_apply(
        channel=Channel.WHATSAPP, provider_message_id=event.message_id, status=event.status, at=event.timestamp,
        error_code=str(event.error_codes[0]) if event.error_codes else "",
        error_title=event.error_title or "", pricing_category=event.pricing_category or "",
        billable=event.billable, recipient=event.phone_e164 or "")
    return "recorded" if applied else "ignored"


def _receipt_apply(event: Any) -> str:
    if not event.psid:
        return "ignored"
    changed = messenger_receipt_apply(psid=event.psid, kind=event.kind, watermark=event.watermark or event.timestamp,
                                      mids=tuple(event.mids))
    return "recorded" if changed else "ignored"


def _messenger_event_process(event: Any) -> str:
    if event.kind in ("delivery", "read"):
        return _receipt_apply(event)
    if event.kind not in ("message", "referral", "postback") or not event.psid:
        return "ignored"  # echoes of our own messages, unknown items
    return "recorded" if inbound_receive(_messenger_inbound(event)) is not None else "duplicate"


def _whatsapp_event_process(event: Any) -> str:
    if event.kind == "status":
        return _status_apply(event)
    if event.kind != "message" or not event.phone_e164:
        return "ignored"
    return "recorded" if inbound_receive(_whatsapp_inbound(event)) is not None else "duplicate"


def meta_events_process(*, messenger: Iterable[Any] = (), whatsapp: Iterable[Any] = ()) -> dict[str, int]:
    """Hand parsed Meta webhook events to the pipeline (messages) or to delivery (statuses, receipts).

    ``messenger`` are ``integrations.meta.MessengerEvent``, ``whatsapp`` ``WhatsAppEvent``, as
    ``parse_messenger`` / ``parse_whatsapp`` return them from a body whose signature the caller checked.
    Each event is handled once (see ``inbound_receive``): a redelivery counts as ``duplicate``. An event
    refused by a business rule (an identity conflict, an erased person) is logged and counted as
    ``failed`` in its own savepoint, so one odd event does not make Meta redeliver the whole batch.
    """
    counts = {"recorded": 0, "duplicate": 0, "ignored": 0, "failed": 0}
    handlers = [(e, _messenger_event_process) for e in messenger] + [(e, _whatsapp_event_process) for e in whatsapp]
    for event, handle in handlers:
        try:
            with transaction.atomic():
                counts[handle(event)] += 1
        except ApplicationError as exc:
            logger.warning("meta webhook: event %s refused: %s", event.event_id, exc.code)
            counts["failed"] += 1
    return counts


# --- the person's right to be forgotten -----------------------------------------------------------------


def inbound_messages_erase(contact_id: int) -> None:
    """Erase (the contacts app's eraser for inbound messages): keep that a message came, drop what it said."""
    InboundMessage.objects.filter(contact_id=contact_id).update(text=ERASED_TEXT, payload="", sender="", details={})
