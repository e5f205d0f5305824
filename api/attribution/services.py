"""Writes of the attribution app: credit runs, RFM scores, lifecycle moves and referral rewards.

The unit of recomputation is a **contact**: all of a contact's counted orders are rewritten
together, because whether an order is the contact's first (a new customer) depends on the
others. Each batch of contacts is one transaction that locks the contacts (advisory locks on
PostgreSQL), deletes their credits and writes the new ones: a killed run leaves old or new
credits, never half, and the same inputs always give the same rows.

Which orders count: every order that is not cancelled and not a free sample, at the time it
was placed (``created_at``). Net revenue = ``total_xaf - delivery_fee_xaf`` (what the goods
sold for after discount; the delivery fee pays the delivery). Margin = net revenue - the unit
costs of its lines - (delivery cost - delivery fee), where the delivery cost is the fee unless
``ATTRIBUTION_DELIVERY_COST_XAF`` sets a flat cost. A refund takes back its amount (minus the
delivery fee when the fee was refunded too).

Tracked touches are the contact's touchpoints except stated sources (``self_reported_source``
kind, which feed the self-reported model instead); a coupon or campaign code typed on the
order counts as one more touch at the order time. A touch's channel is its campaign's channel
when it has a campaign, else the touchpoint's channel.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from api.attribution import conf, engine
from api.attribution.models import (
    AttributionCredit,
    AttributionRun,
    ReferralReward,
    RewardKind,
    RfmScore,
    RunKind,
    RunState,
)
from api.common.errors import ConflictError

logger = logging.getLogger(__name__)

EXCLUDED_STATUSES = ("cancelled",)
_TOUCH_KIND_CHANNEL = {"tasting_visit": "tasting", "fair_visit": "fair", "referral": "referral"}


def engine_settings() -> engine.Settings:
    return engine.Settings(lookback=timedelta(days=conf.LOOKBACK_DAYS),
                           half_life=timedelta(days=conf.TIME_DECAY_HALF_LIFE_DAYS))


def counted_orders():
    """Orders that attribution, LTV and RFM count (not cancelled, not samples)."""
    from api.orders.models import Order

    return Order.objects.exclude(status__in=EXCLUDED_STATUSES).filter(is_sample=False)


# --- loading facts --------------------------------------------------------------------------


@dataclass
class _ContactFacts:
    orders: list[engine.OrderFacts]
    touches: list[engine.Touch]
    first_order_id: int | None


def _code_campaigns(codes: set[str]) -> dict[str, tuple[int, str]]:
    """``{CODE: (campaign_id, channel)}`` for campaign tracking codes and coupon codes."""
    from api.campaigns.models import Campaign, Coupon

    codes = {c.strip().upper() for c in codes if c and c.strip()}
    if not codes:
        return {}
    found = {code: (pk, channel) for code, pk, channel in
             Campaign.objects.filter(code__in=codes).values_list("code", "pk", "channel")}
    for code, pk, channel in Coupon.objects.filter(code__in=codes - set(found)).values_list(
            "code", "campaign_id", "campaign__channel"):
        found[code] = (pk, channel)
    return found


def _fetch(qs: Any) -> list[tuple]:
    """Rows of a ``values_list`` queryset; on PostgreSQL straight from the driver.

    psycopg already returns aware datetimes and ints: skipping Django's per-value converters
    makes reading a million touchpoints several times faster. SQLite needs the converters.
    """
    if connection.vendor != "postgresql":
        return list(qs)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


_ORDER_FIELDS = ("pk", "contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "campaign_code", "coupon_code",
                 "self_reported_source", "contact__self_reported_source")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _touch_rows(contact_ids: Sequence[int], earliest: datetime, latest: datetime) -> list[tuple]:
    """Tracked touches of ``contact_ids`` between two times: (id, contact, campaign, campaign channel,
    channel, kind, occurred_at).

    On PostgreSQL the time is read as integer microseconds since the epoch and rebuilt here:
    parsing a million timestamps as text costs seconds, integers a fraction of that.
    """
    from api.campaigns.models import Campaign, Touchpoint

    if connection.vendor != "postgresql":
        return list(Touchpoint.objects.filter(contact_id__in=contact_ids, occurred_at__gte=earliest,
                                              occurred_at__lte=latest).exclude(kind="self_reported_source")
                    .values_list("pk", "contact_id", "campaign_id", "campaign__channel", "channel", "kind",
                                 "occurred_at").order_by())
    sql = (f"SELECT t.id, t.contact_id, t.campaign_id, c.channel, t.channel, t.kind, "
           f"(EXTRACT(EPOCH FROM t.occurred_at) * 1000000)::bigint "
           f"FROM {Touchpoint._meta.db_table} t LEFT JOIN {Campaign._meta.db_table} c ON c.id = t.campaign_id "
           f"WHERE t.contact_id = ANY(%s) AND t.occurred_at >= %s AND t.occurred_at <= %s "
           f"AND t.kind <> 'self_reported_source'")
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(contact_ids), earliest, latest])
        return [(*row[:6], _EPOCH + timedelta(microseconds=row[6])) for row in cursor.fetchall()]


def _load_facts(contact_ids: Sequence[int]) -> dict[int, _ContactFacts]:
    """Every counted order of ``contact_ids`` with its revenue, margin, refunds and the contact's touches."""
    from api.campaigns.models import Touchpoint
    from api.orders.models import OrderLine, Refund

    rows = [dict(zip(_ORDER_FIELDS, r, strict=True)) for r in _fetch(
        counted_orders().filter(contact_id__in=contact_ids).order_by().values_list(*_ORDER_FIELDS))]
    order_ids = [r["pk"] for r in rows]
    fees = {r["pk"]: r["delivery_fee_xaf"] for r in rows}
    costs: dict[int, int] = defaultdict(int)
    refunds: dict[int, list[engine.Refund]] = defaultdict(list)
    for start in range(0, len(order_ids), 5000):
        chunk = order_ids[start:start + 5000]
        for order_id, cost in _fetch(OrderLine.objects.filter(order_id__in=chunk).values("order_id")
                                     .annotate(cost=Sum(F("unit_cost_xaf") * F("quantity")))
                                     .values_list("order_id", "cost").order_by()):
            costs[order_id] = int(cost or 0)
        for pk, order_id, amount, fee_kept, created_at in Refund.objects.filter(order_id__in=chunk).values_list(
                "pk", "order_id", "amount_xaf", "delivery_fee_kept", "created_at").order_by():
            fee = fees[order_id]
            refunds[order_id].append(engine.Refund(pk, amount if fee_kept else max(0, amount - fee), created_at))

    touches: dict[int, list[engine.Touch]] = defaultdict(list)
    stated: dict[int, str] = {}
    if rows:
        earliest = min(r["created_at"] for r in rows) - timedelta(days=conf.LOOKBACK_DAYS)
        latest = max(r["created_at"] for r in rows)
        for pk, contact_id, campaign_id, campaign_channel, channel, kind, occurred_at in _touch_rows(
                contact_ids, earliest, latest):
            touch_channel = campaign_channel or _TOUCH_KIND_CHANNEL.get(kind) or channel or engine.UNKNOWN_CHANNEL
            touches[contact_id].append(engine.Touch(pk, occurred_at, touch_channel, campaign_id))
        # A stated source recorded as a touchpoint (capture forms): the latest one stands.
        for contact_id, details, campaign_channel, channel in (
                Touchpoint.objects.filter(contact_id__in=contact_ids, kind="self_reported_source")
                .order_by("occurred_at", "pk").values_list("contact_id", "details", "campaign__channel", "channel")):
            text = (details or {}).get("self_reported_source") or campaign_channel or channel
            stated[contact_id] = engine.normalize_source(str(text)) or stated.get(contact_id, "")

    by_code = _code_campaigns({r["coupon_code"] for r in rows} | {r["campaign_code"] for r in rows})
    out: dict[int, _ContactFacts] = {cid: _ContactFacts([], list(touches.get(cid, [])), None) for cid in contact_ids}
    delivery_cost = conf.DELIVERY_COST_XAF
    for r in sorted(rows, key=lambda r: (r["created_at"], r["pk"])):
        facts = out[r["contact_id"]]
        if facts.first_order_id is None:
            facts.first_order_id = r["pk"]
        revenue = max(0, r["total_xaf"] - r["delivery_fee_xaf"])
        fee = r["delivery_fee_xaf"]
        margin = revenue - costs.get(r["pk"], 0) - ((delivery_cost if delivery_cost >= 0 else fee) - fee)
        said = (engine.normalize_source(r["self_reported_source"])
                or engine.normalize_source(r["contact__self_reported_source"])
                or stated.get(r["contact_id"], ""))
        facts.orders.append(engine.OrderFacts(r["pk"], r["created_at"], revenue, margin, said,
                                              tuple(refunds.get(r["pk"], ()))))
        for code in (r["coupon_code"], r["campaign_code"]):
            hit = by_code.get((code or "").strip().upper())
            if hit:
                # A typed code is a touch at the order time; negative ids never collide with touchpoints.
                facts.touches.append(engine.Touch(-r["pk"], r["created_at"], hit[1], hit[0]))
                break
    return out


# --- computing ---------------------------------------------------------------------------------


def _credits_for(contact_ids: Sequence[int], run: AttributionRun | None) -> list[tuple]:
    """Credit rows of ``contact_ids`` as tuples in ``_CREDIT_COLUMNS`` order (no model instances: fast)."""
    settings = engine_settings()
    run_id = run.pk if run else None
    rows: list[tuple] = []
    for contact_id, facts in _load_facts(contact_ids).items():
        for order in facts.orders:
            first = order.order_id == facts.first_order_id
            for c in engine.attribute_order(order, facts.touches, settings=settings):
                rows.append((c.order_id, contact_id, c.model, c.campaign_id, c.channel[:50], c.revenue_xaf,
                             c.margin_xaf, c.weight, c.touches, c.is_refund, c.refund_id, first, c.occurred_at,
                             run_id))
    return rows


_LOCK_NAMESPACE = 7301  # first key of the advisory locks of attribution (the second is a contact id)


def _lock_contacts(contact_ids: Sequence[int]) -> None:
    """Serialise runs on the same contacts until the transaction ends.

    PostgreSQL: transaction-level advisory locks, in id order (no deadlock), held in memory: locking
    the order rows instead would write every locked tuple. SQLite: writers already queue on the
    database lock (``IMMEDIATE`` transactions), nothing to do.
    """
    if connection.vendor != "postgresql" or not contact_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, k::int) FROM unnest(%s::bigint[]) AS k ORDER BY k",
                       [_LOCK_NAMESPACE, sorted(contact_ids)])


def _recompute_contacts(contact_ids: Sequence[int], run: AttributionRun | None) -> tuple[int, int]:
    """Rewrite the credits of ``contact_ids`` in one transaction. Returns (orders, credits written)."""
    from api.orders.models import Order

    with transaction.atomic():
        _lock_contacts(contact_ids)
        order_ids = list(Order.objects.filter(contact_id__in=contact_ids).values_list("pk", flat=True).order_by())
        rows = _credits_for(contact_ids, run)
        # Two deletes, each on its own index (an OR of two IN lists scans the whole table). By order too:
        # an order moved to another contact by a merge must not keep its old rows. Raw deletes: credits
        # have no dependants and no signals, so there is nothing to collect first.
        if connection.vendor == "postgresql":
            # During a first full run the table grows from empty: with stale statistics the planner
            # would scan it whole for every batch. The deletes below always have an index to use.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
        by_contact = AttributionCredit.objects.filter(contact_id__in=contact_ids)
        by_contact._raw_delete(by_contact.db)
        for start in range(0, len(order_ids), 5000):
            by_order = AttributionCredit.objects.filter(order_id__in=order_ids[start:start + 5000])
            by_order._raw_delete(by_order.db)
        _insert_credits(rows)
    return len({r[0] for r in rows}), len(rows)


_CREDIT_COLUMNS = ("order_id", "contact_id", "model", "campaign_id", "channel", "revenue_xaf", "margin_xaf",
                   "weight", "touches", "is_refund", "refund_id", "is_first_order", "occurred_at", "run_id")


def _insert_credits(rows: list[tuple]) -> None:
    """Write credit rows: ``COPY`` on PostgreSQL (about 10x faster than INSERTs), bulk insert elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        AttributionCredit.objects.bulk_create([AttributionCredit(**dict(zip(_CREDIT_COLUMNS, row, strict=True)))
                                               for row in rows], batch_size=2000)
        return
    table = AttributionCredit._meta.db_table
    # Rows are formatted as COPY text here (a few times faster than psycopg's per-value adaptation);
    # channels are slugs, escaped anyway.
    lines = []
    for row in rows:
        (order_id, contact_id, model, campaign_id, channel, revenue, margin, weight, touches, is_refund, refund_id,
         first, occurred_at, run_id) = row
        lines.append(f"{order_id}\t{contact_id}\t{model}\t{_null(campaign_id)}\t{channel.translate(_COPY_ESCAPES)}"
                     f"\t{revenue}\t{margin}\t{weight!r}\t{touches}\t{'t' if is_refund else 'f'}\t{_null(refund_id)}"
                     f"\t{'t' if first else 'f'}\t{occurred_at.isoformat()}\t{_null(run_id)}\n")
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({', '.join(_CREDIT_COLUMNS)}) FROM STDIN") as copy:
            for start in range(0, len(lines), 10_000):
                copy.write("".join(lines[start:start + 10_000]))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _null(value: Any) -> str:
    return "\\N" if value is None else str(value)


def _dirty_contacts(since: datetime | None) -> list[int]:
    """Contacts with an order, a refund or a touchpoint written after ``since`` (all with an order when None)."""
    from api.campaigns.models import Touchpoint
    from api.orders.models import Order, Refund

    if since is None:
        return sorted(set(Order.objects.values_list("contact_id", flat=True).distinct())
                      | set(AttributionCredit.objects.values_list("contact_id", flat=True).distinct()))
    ids: set[int] = set()
    ids.update(Order.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
               .values_list("contact_id", flat=True).distinct())
    ids.update(Refund.objects.filter(created_at__gt=since).values_list("order__contact_id", flat=True).distinct())
    touched = set(Touchpoint.objects.filter(Q(updated_at__gt=since) | Q(created_at__gt=since))
                  .values_list("contact_id", flat=True).distinct())
    if touched:
        # Only contacts with an order need new credits; the others have nothing to attribute yet.
        touched_list = list(touched)
        for start in range(0, len(touched_list), 5000):
            ids.update(Order.objects.filter(contact_id__in=touched_list[start:start + 5000])
                       .values_list("contact_id", flat=True).distinct())
    return sorted(ids)


def attribution_run(*, full: bool = False, contact_ids: Iterable[int] | None = None) -> AttributionRun | None:
    """Compute credits for what changed since the last successful run (or everything with ``full``).

    Idempotent: the same inputs give the same rows; a second run right after finds little or
    nothing to do. Returns None when another run is in progress (a recent ``running`` row).
    Each batch of contacts is committed on its own; the watermark moves only when the whole
    run succeeded, so a killed run is redone from the old watermark.
    """
    now = timezone.now()
    with transaction.atomic():
        running = AttributionRun.objects.select_for_update().filter(
            state=RunState.RUNNING, started_at__gt=now - timedelta(seconds=conf.RUN_STALE_AFTER_SECONDS))
        if running.exists():
            return None
        last = (AttributionRun.objects.filter(state=RunState.SUCCEEDED, watermark__isnull=False)
                .order_by("-watermark").first())
        run = AttributionRun.objects.create(kind=RunKind.FULL if full or last is None else RunKind.INCREMENTAL,
                                            started_at=now)
    try:
        if contact_ids is not None:
            todo = sorted(set(contact_ids))
        else:
            todo = _dirty_contacts(None if run.kind == RunKind.FULL or last is None else last.watermark)
        orders = credits = 0
        for start in range(0, len(todo), conf.BATCH_CONTACTS):
            done_orders, done_credits = _recompute_contacts(todo[start:start + conf.BATCH_CONTACTS], run)
            orders += done_orders
            credits += done_credits
        run.state = RunState.SUCCEEDED
        run.contacts_processed, run.orders_processed, run.credits_written = len(todo), orders, credits
        if contact_ids is None:
            run.watermark = now - timedelta(seconds=conf.WATERMARK_SETTLE_SECONDS)
    except Exception as exc:
        logger.exception("attribution run %s failed", run.pk)
        run.state = RunState.FAILED
        run.error = f"{exc.__class__.__name__}: {exc}"[:500]
    run.finished_at = timezone.now()
    run.save()
    return run


def attribution_run_request(*, full: bool) -> AttributionRun:
    """Staff asked for a run now: refuse (409) while one is in progress, else run it."""
    run = attribution_run(full=full)
    if run is None:
        raise ConflictError("An attribution run is already in progress.", code="run_in_progress")
    return run


# --- RFM -------------------------------------------------------------------------------------------


def rfm_recompute(*, now: datetime | None = None) -> int:
    """Recompute every contact's RFM scores over the last ``RFM_PERIOD_DAYS`` (idempotent, nightly).

    Contacts without a counted order in the period lose their row. Returns the number scored.
    """
    from api.attribution import metrics

    now = now or timezone.now()
    since = now - timedelta(days=conf.RFM_PERIOD_DAYS)
    revenue: dict[int, int] = defaultdict(int)
    last: dict[int, datetime] = {}
    count: dict[int, int] = defaultdict(int)
    for contact_id, created_at, total, fee, refunded in (
            counted_orders().filter(created_at__gte=since, created_at__lte=now)
            .values_list("contact_id", "created_at", "total_xaf", "delivery_fee_xaf", "refunded_xaf")
            .iterator(chunk_size=5000)):
        revenue[contact_id] += max(0, total - fee - refunded)
        count[contact_id] += 1
        if contact_id not in last or created_at > last[contact_id]:
            last[contact_id] = created_at
    facts = [metrics.RfmFacts(cid, (now - last[cid]).days, count[cid], revenue[cid]) for cid in count]
    scores = metrics.rfm_scores(facts)
    with transaction.atomic():
        RfmScore.objects.all().delete()
        RfmScore.objects.bulk_create([
            RfmScore(contact_id=s.contact_id, recency_days=s.recency_days, frequency=s.frequency,
                     monetary_xaf=s.monetary_xaf, r_score=s.r, f_score=s.f, m_score=s.m, group=s.group,
                     period_days=conf.RFM_PERIOD_DAYS, computed_at=now, created_at=now)
            for s in scores], batch_size=2000)
    return len(scores)


# --- lifecycle and referrals -------------------------------------------------------------------


def _delivered_count(contact_id: int) -> int:
    from api.orders.models import Order

    return Order.objects.filter(contact_id=contact_id, is_sample=False).filter(
        Q(status="delivered") | Q(delivered_at__isnull=False)).exclude(status="cancelled").count()


def _shared_link(contact_id: int) -> bool:
    """The contact shared their referral link: someone arrived with it."""
    from api.contacts.models import Contact

    return Contact.objects.filter(referred_by_id=contact_id).exists()


def _brought_a_buyer(contact_id: int) -> bool:
    from api.orders.models import Order

    return Order.objects.filter(contact__referred_by_id=contact_id, is_sample=False).filter(
        Q(status="delivered") | Q(delivered_at__isnull=False)).exists()


def _good_feedback(contact_id: int) -> bool:
    from api.orders.models import Feedback

    return Feedback.objects.filter(contact_id=contact_id, rating__gte=conf.AMBASSADOR_MIN_RATING).exists()


def lifecycle_update_from_orders(*, contact_id: int) -> str | None:
    """Move the contact's stage from the facts: 1 delivered order -> customer, 2 -> repeat customer,
    a repeat customer who brought a buyer (or rated >= 4 and shared their link) -> ambassador.

    Never moves a contact down (an ambassador stays one) and leaves a stage staff set by hand
    (``contact_set_lifecycle_stage`` ignores automatic moves then). Returns the stage asked for.
    """
    from api.contacts.models import Contact
    from api.contacts.services import contact_set_lifecycle_stage

    contact = Contact.objects.filter(pk=contact_id).values("lifecycle_stage", "lifecycle_stage_locked").first()
    if contact is None or contact["lifecycle_stage_locked"]:
        return None
    delivered = _delivered_count(contact_id)
    if delivered == 0:
        return None
    target, reason = "customer", "first order delivered"
    if delivered >= 2:
        target, reason = "repeat_customer", f"{delivered} orders delivered"
        if _brought_a_buyer(contact_id):
            target, reason = "ambassador", "brought a friend who bought"
        elif _good_feedback(contact_id) and _shared_link(contact_id):
            target, reason = "ambassador", "rated us 4+ and shared their link"
    rank = ["suspect", "prospect", "inactive", "customer", "repeat_customer", "ambassador"]
    current = contact["lifecycle_stage"]
    if current == target or (current in rank and rank.index(current) > rank.index(target)):
        return None
    contact_set_lifecycle_stage(contact_id=contact_id, stage=target, reason=reason, automatic=True)
    return target


def lifecycle_sweep_inactive(*, now: datetime | None = None) -> int:
    """Make contacts inactive after ``LIFECYCLE_INACTIVE_AFTER_DAYS`` without an order or a reply.

    A reply is an inbound touchpoint (message, bot start, ad referral); staff-locked stages and
    contacts already inactive are left alone. Returns how many moved. Idempotent.
    """
    from api.campaigns.models import Touchpoint
    from api.contacts.models import Contact
    from api.contacts.services import contact_set_lifecycle_stage
    from api.orders.models import Order

    now = now or timezone.now()
    cutoff = now - timedelta(days=conf.INACTIVE_AFTER_DAYS)
    candidates = Contact.objects.filter(created_at__lt=cutoff, lifecycle_stage_locked=False,
                                        merged_into__isnull=True, erased_at__isnull=True).exclude(
        lifecycle_stage="inactive")
    recent_orders = Order.objects.filter(created_at__gte=cutoff).values("contact_id")
    recent_replies = Touchpoint.objects.filter(occurred_at__gte=cutoff).values("contact_id")
    ids = list(candidates.exclude(pk__in=recent_orders).exclude(pk__in=recent_replies)
               .exclude(last_seen_at__gte=cutoff).values_list("pk", flat=True)[:5000])
    for contact_id in ids:
        contact_set_lifecycle_stage(contact_id=contact_id, stage="inactive",
                                    reason=f"no order and no reply for {conf.INACTIVE_AFTER_DAYS} days")
    return len(ids)


def referral_reward_grant(*, order_id: int) -> ReferralReward | None:
    """Reward the referrer when ``order_id`` is the referred contact's first delivered order.

    One reward per referred contact (unique row): a replayed event grants nothing more.
    The reward is a discount code for the referrer's next order or points (``REFERRAL_REWARD_KIND``).
    """
    from api.contacts.services import contact_event_record
    from api.orders.models import Order

    order = Order.objects.filter(pk=order_id).values("contact_id", "contact__referred_by_id", "status",
                                                     "delivered_at", "is_sample").first()
    if order is None or order["contact__referred_by_id"] is None or order["is_sample"]:
        return None
    if order["status"] != "delivered" and order["delivered_at"] is None:
        return None
    first = (Order.objects.filter(contact_id=order["contact_id"], is_sample=False)
             .filter(Q(status="delivered") | Q(delivered_at__isnull=False))
             .order_by("delivered_at", "created_at", "pk").values_list("pk", flat=True).first())
    if first != order_id:
        return None
    referrer_id = order["contact__referred_by_id"]
    kind = conf.REFERRAL_REWARD_KIND if conf.REFERRAL_REWARD_KIND in RewardKind.values else RewardKind.DISCOUNT
    with transaction.atomic():
        reward, created = ReferralReward.objects.get_or_create(
            referred_id=order["contact_id"],
            defaults={"referrer_id": referrer_id, "order_id": order_id, "kind": kind,
                      "code": f"AMB-{secrets.token_hex(3).upper()}" if kind == RewardKind.DISCOUNT else "",
                      "discount_percent": conf.REFERRAL_DISCOUNT_PERCENT if kind == RewardKind.DISCOUNT else 0,
                      "points": conf.REFERRAL_POINTS if kind == RewardKind.POINTS else 0})
        if created:
            what = (f"discount code {reward.code} (-{reward.discount_percent} %)" if kind == RewardKind.DISCOUNT
                    else f"{reward.points} points")
            contact_event_record(contact_id=referrer_id, kind="referral_reward",
                                 summary=f"Earned {what}: a referred friend's first order was delivered",
                                 data={"referred_id": order["contact_id"], "order_id": order_id,
                                       "reward_id": reward.pk})
    return reward if created else None


def order_event_handle(*, kind: str, order_id: int, contact_id: int, status: str) -> dict[str, Any]:
    """React to an order event: lifecycle moves and referral rewards (credits follow via the watermark)."""
    result: dict[str, Any] = {}
    if status == "delivered" or kind in ("feedback", "status_changed"):
        result["stage"] = lifecycle_update_from_orders(contact_id=contact_id)
    if status == "delivered":
        reward = referral_reward_grant(order_id=order_id)
        result["reward_id"] = reward.pk if reward else None
        # The referrer may now be an ambassador (they brought a buyer).
        from api.contacts.models import Contact

        referrer = Contact.objects.filter(pk=contact_id).values_list("referred_by_id", flat=True).first()
        if referrer:
            result["referrer_stage"] = lifecycle_update_from_orders(contact_id=referrer)
    return result


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def order_event_listener(event: Any) -> None:
    """Registered with ``api.orders.events``: runs after the order's transaction committed.

    Lifecycle and rewards are a few indexed queries, so they run inline (like the other apps'
    listeners); credits follow on the next incremental run through the order's ``updated_at``.
    """
    if event.is_sample:
        return
    if event.kind in ("status_changed", "feedback", "refunded") or event.status == "delivered":
        order_event_handle(kind=event.kind, order_id=event.order_id, contact_id=event.contact_id,
                           status=event.status)


# --- weekly summary to the staff chat --------------------------------------------------------------


def weekly_summary_text(report: dict[str, Any]) -> str:
    """A short caption: totals, the three best channels by revenue, and the share without source."""
    totals = report["totals"]
    lines = [f"Semaine du {report['week_start']:%d/%m/%Y} ({report['model']})",
             f"Coût {totals['cost_xaf']:,} XAF · CA {totals['revenue_xaf']:,} XAF · marge {totals['margin_xaf']:,} XAF"
             .replace(",", " "),
             f"ROAS {totals['roas'] if totals['roas'] is not None else '–'} · "
             f"CAC {totals['cac_xaf'] if totals['cac_xaf'] is not None else '–'} XAF · "
             f"{totals['orders']:g} commandes, {totals['new_customers']:g} nouveaux clients"]
    for row in report["rows"][:3]:
        lines.append(f"• {row['channel']}: {row['revenue_xaf']:,} XAF, ROAS "
                     f"{row['roas'] if row['roas'] is not None else '–'}".replace(",", " "))
    share = report["share_orders_without_source"]
    if share:
        lines.append(f"{share:.0%} des commandes sans origine connue : demandez d'où vient le client !")
    return "\n".join(lines)[:1024]


def weekly_summary_send(*, week: date | None = None) -> Any:
    """Send the summary of the finished week (the one before ``week``'s Monday by default) with the
    ROAS chart to ``TELEGRAM_STAFF_CHAT_ID``. A no-op without chat or bot token.

    At most once per week: the row is committed as ``sending`` first; a row found ``sending`` (an
    interrupted send) is marked ``unknown_outcome`` instead of sending twice. Rate limits and
    transient errors put the row back so the task's retry sends it.
    """
    from django.conf import settings

    from api.attribution import charts, selectors
    from api.attribution.metrics import week_start
    from api.attribution.models import SummaryState, WeeklySummary
    from integrations.errors import RateLimited, TransientError

    chat, token = str(settings.TELEGRAM_STAFF_CHAT_ID or ""), settings.TELEGRAM_BOT_TOKEN
    if not chat or not token:
        return None
    monday = week_start(week) if week else selectors.current_week() - timedelta(weeks=1)
    with transaction.atomic():
        summary, created = WeeklySummary.objects.select_for_update().get_or_create(week_start=monday)
        if not created:
            if summary.state == SummaryState.SENDING:
                summary.state = SummaryState.UNKNOWN_OUTCOME
                summary.save(update_fields=["state"])
            return summary
    report = selectors.weekly_roi_report(week=monday)
    from integrations.telegram import TelegramClient

    client = TelegramClient(token, base_url=settings.TELEGRAM_API_BASE_URL)
    try:
        client.send_photo(chat, charts.roas_chart(report), caption=weekly_summary_text(report))
    except (RateLimited, TransientError):
        summary.delete()  # nothing went out: the retry starts afresh
        raise
    except Exception as exc:
        summary.state, summary.error = SummaryState.FAILED, f"{exc.__class__.__name__}: {exc}"[:500]
        summary.save(update_fields=["state", "error"])
        return summary
    summary.state, summary.sent_at = SummaryState.SENT, timezone.now()
    summary.save(update_fields=["state", "sent_at"])
    return summary
