"""Settings of the campaigns app, read from the environment (``api.env`` helpers).

Kept here rather than in ``api/settings.py`` so the app owns its knobs; each has a safe default.
Tests override them with ``monkeypatch.setattr(conf, "NAME", value)``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

from api.env import env_int, env_str

# The CFA franc (XAF) is pegged to the euro: 1 EUR = 655.957 XAF exactly (BEAC / Banque de France).
EUR_XAF_PEG = Decimal("655.957")


def parse_rates(raw: str) -> dict[str, Decimal]:
    """Parse ``"USD=600.5,GBP=760"`` into ``{"USD": Decimal("600.5"), "GBP": Decimal("760")}`` (XAF per unit)."""
    rates: dict[str, Decimal] = {}
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        code, sep, value = item.partition("=")
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            rate = Decimal(0)
        if not sep or len(code.strip()) != 3 or rate <= 0:
            raise ImproperlyConfigured(f"CURRENCY_RATES_XAF: {item!r} is not CODE=positive number.")
        rates[code.strip().upper()] = rate
    return rates


# XAF per unit of each other currency an ad account may report in. EUR never needs one (fixed peg).
CURRENCY_RATES_XAF: dict[str, Decimal] = parse_rates(env_str("CURRENCY_RATES_XAF", ""))

# First ad-spend sync reads this many days back (an async report run); later syncs re-read the
# last FACEBOOK_ADS_RESYNC_DAYS because Meta restates recent figures (late conversions, billing
# adjustments settle within a few days; 7 covers its default 7-day click attribution window).
FACEBOOK_ADS_BACKFILL_DAYS = env_int("FACEBOOK_ADS_BACKFILL_DAYS", 365)
FACEBOOK_ADS_RESYNC_DAYS = env_int("FACEBOOK_ADS_RESYNC_DAYS", 7)
FACEBOOK_PAGE_BACKFILL_DAYS = env_int("FACEBOOK_PAGE_BACKFILL_DAYS", 90)
FACEBOOK_PAGE_RESYNC_DAYS = env_int("FACEBOOK_PAGE_RESYNC_DAYS", 3)
# A throttle shorter than this is waited out inside the sync; a longer one ends the run and the
# task retries later (a worker must not sleep for minutes).
FACEBOOK_INLINE_WAIT_MAX_SECONDS = env_int("FACEBOOK_INLINE_WAIT_MAX_SECONDS", 10)
FACEBOOK_INLINE_RETRIES = env_int("FACEBOOK_INLINE_RETRIES", 3)
FACEBOOK_PAGE_METRICS = tuple(
    m.strip() for m in env_str("FACEBOOK_PAGE_METRICS", "page_follows,page_media_view").split(",") if m.strip()
)

# Where /r/<code> sends a visitor when the campaign has no landing URL: one of "whatsapp",
# "messenger", "telegram", or an absolute URL.
CAMPAIGN_REDIRECT_DEFAULT = env_str("CAMPAIGN_REDIRECT_DEFAULT", "whatsapp")
# The prefilled text of the WhatsApp click-to-chat link; "{code}" is replaced by the campaign code
# and the webhook finds the code again after "Code".
WHATSAPP_PREFILL_TEXT = env_str("WHATSAPP_PREFILL_TEXT", "Bonjour Confiotes ! Code {code}")
# Code of the campaign that receives sample costs of orders that name no campaign.
SAMPLES_FALLBACK_CAMPAIGN_CODE = env_str("SAMPLES_FALLBACK_CAMPAIGN_CODE", "SAMPLES")
