"""RFM scores: recency, frequency and money of each customer's counted orders, in quintiles, with the
type of purchase (FRAT's T): the product category each customer spent most on."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from api.attribution import conf, indicator_inputs, indicators, metrics
from api.attribution.models import RfmScore
from api.attribution.services import inputs


def rfm_recompute(*, now: datetime | None = None) -> int:
    """Recompute every contact's RFM scores over the last ``RFM_PERIOD_DAYS`` (idempotent, nightly).

    Contacts without a counted order in the period lose their row. ``top_category`` is
    ``indicators.top_category`` of the lines of the same orders. Returns the number scored.
    """
    now = now or timezone.now()
    since = now - timedelta(days=conf.RFM_PERIOD_DAYS)
    revenue: dict[int, int] = defaultdict(int)
    last: dict[int, datetime] = {}
    count: dict[int, int] = defaultdict(int)
    for contact_id, created_at, total, fee, refunded in inputs.rfm_order_rows(since, now):
        revenue[contact_id] += max(0, total - fee - refunded)
        count[contact_id] += 1
        if contact_id not in last or created_at > last[contact_id]:
            last[contact_id] = created_at
    facts = [metrics.RfmFacts(cid, (now - last[cid]).days, count[cid], revenue[cid]) for cid in count]
    scores = metrics.rfm_scores(facts)
    spend = indicator_inputs.category_spend(since, now)
    with transaction.atomic():
        RfmScore.objects.all().delete()
        RfmScore.objects.bulk_create([
            RfmScore(contact_id=s.contact_id, recency_days=s.recency_days, frequency=s.frequency,
                     monetary_xaf=s.monetary_xaf, r_score=s.r, f_score=s.f, m_score=s.m, group=s.group,
                     top_category=indicators.top_category(spend.get(s.contact_id, {})),
                     period_days=conf.RFM_PERIOD_DAYS, computed_at=now, created_at=now)
            for s in scores], batch_size=2000)
    return len(scores)
