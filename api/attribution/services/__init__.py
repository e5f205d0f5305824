"""Writes of the attribution app: credit runs, RFM scores, lifecycle moves, referral rewards, the weekly summary.

One module per subdomain; this package re-exports what the app's views, other apps, ``workers/``,
``tests/`` and ``bench/`` call, so that they import from ``api.attribution.services``:

* :mod:`.facts`: the shapes of the facts read and what both readers share (the engine's
  settings); which orders count and a touch's channel are the orders' and campaigns' published rules;
* :mod:`.inputs`: every read of other apps' rows (orders, campaigns, contacts), through the ORM;
  :mod:`.inputs_pg`: the same facts read in SQL on PostgreSQL;
* :mod:`.credits`: facts to credit rows, and writing them; :mod:`.credits_pg`: the same as binary COPY;
* :mod:`.batches`: a batch of contacts rewritten in one transaction; :mod:`.recompute_pg` (with
  :mod:`.slices_pg` and :mod:`.table_swap_pg`): the full recompute on PostgreSQL in one transaction;
* :mod:`.runs`: the run row, the watermark, what to recompute;
* :mod:`.lifecycle_rules`: the lifecycle rules, in order, in one table; :mod:`.lifecycle` applies them;
* :mod:`.indicators`: the CRM indicators of a week, computed and stored per week;
* :mod:`.rfm`, :mod:`.lifecycle`, :mod:`.referrals`, :mod:`.order_events`, :mod:`.summary`.

Each PostgreSQL module is the twin of a portable one, behind the same signature;
``tests/attribution/test_full_recompute.py`` proves they give the same rows.
"""

from api.attribution.services.facts import EXCLUDED_STATUSES, engine_settings
from api.attribution.services.indicators import (
    reports_refresh,
    week_indicators_compute,
    week_indicators_get,
    week_indicators_refresh,
    week_indicators_store,
)
from api.attribution.services.inputs import counted_orders
from api.attribution.services.lifecycle import (
    lifecycle_engagements_apply,
    lifecycle_nightly,
    lifecycle_sweep_inactive,
    lifecycle_update,
    lifecycle_update_from_orders,
)
from api.attribution.services.order_events import order_event_handle, order_event_listener
from api.attribution.services.referrals import referral_reward_grant, reward_coupon_holder
from api.attribution.services.rfm import rfm_recompute
from api.attribution.services.runs import attribution_run, attribution_run_request
from api.attribution.services.summary import weekly_summary_send, weekly_summary_text

__all__ = [
    "EXCLUDED_STATUSES",
    "attribution_run",
    "attribution_run_request",
    "counted_orders",
    "engine_settings",
    "lifecycle_engagements_apply",
    "lifecycle_nightly",
    "lifecycle_sweep_inactive",
    "lifecycle_update",
    "lifecycle_update_from_orders",
    "order_event_handle",
    "order_event_listener",
    "referral_reward_grant",
    "reports_refresh",
    "reward_coupon_holder",
    "rfm_recompute",
    "week_indicators_compute",
    "week_indicators_get",
    "week_indicators_refresh",
    "week_indicators_store",
    "weekly_summary_send",
    "weekly_summary_text",
]
