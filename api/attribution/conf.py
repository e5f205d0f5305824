"""Settings of the attribution app, read from the environment with safe embedded defaults.

Tests change them with ``monkeypatch.setattr(conf, "NAME", value)``.
"""

from __future__ import annotations

from api.env import env_float, env_int, env_str

# Attribution models (see ``engine.py``): touches older than the lookback window do not count;
# time decay halves a touch's weight every half-life before the order.
LOOKBACK_DAYS = env_int("ATTRIBUTION_LOOKBACK_DAYS", 30)
TIME_DECAY_HALF_LIFE_DAYS = env_float("ATTRIBUTION_HALF_LIFE_DAYS", 7.0)
# The model the reports use when the request does not name one.
DEFAULT_MODEL = env_str("ATTRIBUTION_DEFAULT_MODEL", "position_based")

# Margin = net revenue - product unit costs - (delivery cost - delivery fee charged). By default a
# delivery costs what the customer paid for it (the fee passes through); set a flat cost per
# delivered order to charge the difference to the margin.
DELIVERY_COST_XAF = env_int("ATTRIBUTION_DELIVERY_COST_XAF", -1)  # -1: equal to the fee charged

# Incremental runs re-read rows changed up to this many seconds before the previous run started,
# so that a transaction that stamped ``updated_at`` earlier but committed later is not missed.
# Every write commits within one request, far below this.
WATERMARK_SETTLE_SECONDS = env_int("ATTRIBUTION_WATERMARK_SETTLE_SECONDS", 120)
# Contacts recomputed per transaction: each one is all-or-nothing, a batch bounds memory.
BATCH_CONTACTS = env_int("ATTRIBUTION_BATCH_CONTACTS", 500)
# A run still "running" after this long is considered dead (worker killed) and may be replaced.
RUN_STALE_AFTER_SECONDS = env_int("ATTRIBUTION_RUN_STALE_AFTER_SECONDS", 3600)

# RFM: quintiles over the orders of this many days, recomputed nightly.
RFM_PERIOD_DAYS = env_int("RFM_PERIOD_DAYS", 365)

# Lifecycle: no order and no reply for this long makes a contact inactive.
INACTIVE_AFTER_DAYS = env_int("LIFECYCLE_INACTIVE_AFTER_DAYS", 180)
# An ambassador gave feedback of at least this rating (and shared their link) or brought a buyer.
AMBASSADOR_MIN_RATING = env_int("AMBASSADOR_MIN_RATING", 4)
# The frequent lifecycle pass (every 2 minutes) looks at touches written in this many hours: enough to
# cover a day of stopped workers; the nightly pass looks at every touch (see services/lifecycle_rules.py).
LIFECYCLE_RECENT_HOURS = env_int("LIFECYCLE_RECENT_HOURS", 24)

# LTV (see api/attribution/ltv.py): a customer is lost after this many days without an order (the same
# silence as the lifecycle's inactive stage by default), and the expected lifetime is kept under a
# ceiling: value beyond three years is too uncertain for a young business to spend on acquiring a
# customer today, and with few lost customers observed 1 / churn would otherwise run away.
LTV_CHURN_AFTER_DAYS = env_int("LTV_CHURN_AFTER_DAYS", INACTIVE_AFTER_DAYS)
LTV_MAX_LIFETIME_YEARS = env_float("LTV_MAX_LIFETIME_YEARS", 3.0)

# Referral reward when the referred person's first order is delivered: "discount" (a code for
# the referrer's next order) or "points".
REFERRAL_REWARD_KIND = env_str("REFERRAL_REWARD_KIND", "discount")
REFERRAL_DISCOUNT_PERCENT = env_int("REFERRAL_DISCOUNT_PERCENT", 10)
REFERRAL_POINTS = env_int("REFERRAL_POINTS", 100)
