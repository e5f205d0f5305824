"""Settings of the nurture app, read from the environment (see ``api/env.py``).

Read through functions, not module constants, so that tests can override the Django
settings of the same name (``settings.NURTURE_WEEKLY_CAP = 2``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from api.env import env_float, env_int, env_str

_DEFAULTS: dict[str, Any] = {
    # At most this many marketing messages per contact in any 7 days, whatever their origin.
    "NURTURE_WEEKLY_CAP": env_int("NURTURE_WEEKLY_CAP", 3),
    # A contact who chose "monthly only" gets at most one marketing message per this many days.
    "NURTURE_MONTHLY_ONLY_DAYS": env_int("NURTURE_MONTHLY_ONLY_DAYS", 30),
    # Default sending window of a step, in the business time zone.
    "NURTURE_WINDOW_START": env_str("NURTURE_WINDOW_START", "09:00"),
    "NURTURE_WINDOW_END": env_str("NURTURE_WINDOW_END", "20:00"),
    # Lead score: a prospect at or above the threshold is "mature" and staff are told.
    "NURTURE_MATURE_THRESHOLD": env_int("NURTURE_MATURE_THRESHOLD", 30),
    # Rows claimed per dispatcher round trip. 100 keeps a claim transaction short (< 10 ms on
    # PostgreSQL) while a batch lasts well under the lease at 30 messages per second.
    "NURTURE_DISPATCH_BATCH": env_int("NURTURE_DISPATCH_BATCH", 100),
    # A claimed row not sent within the lease goes back to the pool (claimed but never attempted)
    # or, when the provider call had started, to failed/unknown_outcome. Far above the 25 s the
    # slowest provider call may take (20 s read timeout + connect).
    "NURTURE_CLAIM_LEASE_SECONDS": env_int("NURTURE_CLAIM_LEASE_SECONDS", 120),
    # One dispatcher run stops after this long (or as soon as nothing is due); beat kicks one every
    # 5 s, so a long broadcast never holds a worker slot for long (the heartbeat task needs one too).
    "NURTURE_DISPATCH_MAX_SECONDS": env_float("NURTURE_DISPATCH_MAX_SECONDS", 25.0),
    # The limiter paces at this fraction of the provider's limit: Telegram (and the fake) count a
    # sliding one-second window, a token bucket at 100% plus its burst may exceed it by a few.
    "NURTURE_RATE_SAFETY": env_float("NURTURE_RATE_SAFETY", 0.97),
    # Meta: about 1 message per 6 s to one WhatsApp user, 80 per second per number.
    "NURTURE_WHATSAPP_RATE_PER_SECOND": env_float("NURTURE_WHATSAPP_RATE_PER_SECOND", 80.0),
    "NURTURE_WHATSAPP_PER_CHAT_RATE_PER_SECOND": env_float("NURTURE_WHATSAPP_PER_CHAT_RATE_PER_SECOND", 1 / 6),
    # Meta's Send API: 300 calls per second per Page for text, links, reactions and stickers.
    "NURTURE_MESSENGER_RATE_PER_SECOND": env_float("NURTURE_MESSENGER_RATE_PER_SECOND", 300.0),
    # Give up on a message after this many transient failures.
    "NURTURE_MAX_ATTEMPTS": env_int("NURTURE_MAX_ATTEMPTS", 5),
    # The apology sent at once to a customer whose low rating opened a complaint (the threshold is
    # the orders app's ``UNHAPPY_RATING_THRESHOLD``): ``{first_name}``, ``{order_number}``.
    "NURTURE_APOLOGY_TEMPLATE": env_str(
        "NURTURE_APOLOGY_TEMPLATE",
        "Bonjour {first_name}, nous sommes sincèrement désolés que votre commande {order_number} ne vous "
        "ait pas donné satisfaction. Un membre de l'équipe Confiotes vous contacte très vite pour arranger "
        "les choses. Merci de nous l'avoir dit.",
    ),
    # --- WhatsApp templates (services/templates.py) -------------------------------------------------
    # Our own per-person cap on MARKETING templates in any rolling 7 days (skip ``marketing_limit``).
    # Meta also caps marketing templates per person across all businesses without publishing the
    # number (error 131049); staying well under it keeps our messages from being the ones it drops.
    "NURTURE_WHATSAPP_MARKETING_PER_WEEK": env_int("NURTURE_WHATSAPP_MARKETING_PER_WEEK", 2),
    # Templates (by name, any approved language) sent outside the 24-hour window for the messages that
    # no author picks a template for; empty: such a message is skipped ``template_required``.
    "NURTURE_WHATSAPP_TEMPLATE_REPLENISHMENT": env_str("NURTURE_WHATSAPP_TEMPLATE_REPLENISHMENT", ""),
    "NURTURE_WHATSAPP_TEMPLATE_REFERRAL_THANKS": env_str("NURTURE_WHATSAPP_TEMPLATE_REFERRAL_THANKS", ""),
    "NURTURE_WHATSAPP_TEMPLATE_APOLOGY": env_str("NURTURE_WHATSAPP_TEMPLATE_APOLOGY", ""),
    "NURTURE_WHATSAPP_TEMPLATE_BIRTHDAY": env_str("NURTURE_WHATSAPP_TEMPLATE_BIRTHDAY", ""),
    # What Meta charges per delivered message to a Cameroonian number (+237, "Rest of Africa"), by
    # pricing category, in XAF (decimal strings; summed per campaign and day, then rounded).
    # Source: Meta's per-message rate card effective 2025-07-01 (still in force 2026-01-01 for Rest
    # of Africa): marketing USD 0.0225, utility USD 0.0040, authentication USD 0.0040, service free;
    # converted at 560 XAF per USD (BEAC rate, late 2025). A category not listed costs 0.
    "NURTURE_WHATSAPP_PRICES_XAF": {
        "marketing": env_str("NURTURE_WHATSAPP_PRICE_MARKETING_XAF", "12.6"),
        "utility": env_str("NURTURE_WHATSAPP_PRICE_UTILITY_XAF", "2.24"),
        "authentication": env_str("NURTURE_WHATSAPP_PRICE_AUTHENTICATION_XAF", "2.24"),
        "authentication_international": env_str("NURTURE_WHATSAPP_PRICE_AUTHENTICATION_XAF", "2.24"),
        "marketing_lite": env_str("NURTURE_WHATSAPP_PRICE_MARKETING_XAF", "12.6"),
    },
}

# Points per event kind for the lead score; an unknown kind scores 0.
DEFAULT_SCORE_POINTS: dict[str, int] = {
    "bot_start": 10,
    "inbound_message": 5,
    "self_reported_source": 3,
    "link_click": 3,
    "tasting": 15,
    "feedback": 10,
}


def get(name: str) -> Any:
    """The value of ``name``: a Django setting of that name wins over the environment default."""
    return getattr(settings, name, _DEFAULTS[name])


def score_points() -> dict[str, int]:
    return dict(getattr(settings, "NURTURE_SCORE_POINTS", DEFAULT_SCORE_POINTS))
