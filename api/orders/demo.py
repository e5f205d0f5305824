"""Demo data of the orders app: the catalog, gift boxes, five partners and a year of orders.

Rows are written with ``bulk_create`` (a year of ~1,500 orders loads in a few seconds); numbers
come from the same per-year counters as live orders, so later orders continue the sequence.
No order events are emitted: the other apps seed their own demo data.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from api.common.businesstime import business_localtime
from api.contacts.selectors import contacts_live
from api.contacts.services import contact_upsert
from api.orders import conf
from api.orders.enums import DeliveryState, OrderStatus, PaymentStatus
from api.orders.models import (
    Feedback,
    GiftBox,
    GiftBoxItem,
    Order,
    OrderCounter,
    OrderLine,
    OrderStatusHistory,
    Partner,
    Payment,
    Product,
    Refund,
    WebhookDelivery,
)

PRODUCTS = [
    # sku, name, kind, volume ml, tier, price, unit cost
    ("SIR-GING-50", "Sirop de gingembre", "syrup", 500, "standard", 3500, 1200),
    ("SIR-BISS-50", "Sirop de bissap", "syrup", 500, "standard", 3500, 1100),
    ("SIR-CITR-50", "Sirop de citronnelle", "syrup", 500, "standard", 3500, 1000),
    ("SIR-MENT-50", "Sirop de menthe", "syrup", 500, "standard", 3500, 1000),
    ("SIR-BAOB-50", "Sirop de baobab", "syrup", 500, "premium", 4500, 1600),
    ("SIR-GOYA-50", "Sirop de goyave", "syrup", 500, "premium", 4500, 1500),
    ("SIR-GING-100", "Sirop de gingembre (1 L)", "syrup", 1000, "standard", 6000, 2100),
    ("LIQ-BISS-70", "Liqueur de bissap", "liqueur", 700, "premium", 9500, 3500),
    ("LIQ-CAFE-70", "Crème de café de l'Ouest", "liqueur", 700, "ultra", 14000, 5200),
    ("LIQ-GING-70", "Liqueur de gingembre", "liqueur", 700, "premium", 9500, 3400),
    ("LIQ-CACA-50", "Crème de cacao du Sud", "liqueur", 500, "ultra", 13000, 4900),
    ("OTH-CONF-25", "Confiture d'ananas", "other", 250, "standard", 2500, 900),
]
GIFT_BOXES = [
    ("COF-DECOUVERTE", "Coffret Découverte", "standard", 9500, [("SIR-GING-50", 1), ("SIR-BISS-50", 1),
                                                               ("SIR-CITR-50", 1)]),
    ("COF-TONTINE", "Coffret Tontine", "premium", 24000, [("SIR-GING-100", 2), ("LIQ-BISS-70", 1),
                                                          ("SIR-MENT-50", 1)]),
    ("COF-PRESTIGE", "Coffret Prestige", "ultra", 39000, [("LIQ-CAFE-70", 1), ("LIQ-CACA-50", 1),
                                                          ("LIQ-GING-70", 1)]),
    ("COF-NOEL", "Coffret Noël en famille", "premium", 18000, [("SIR-BAOB-50", 1), ("SIR-GOYA-50", 1),
                                                               ("LIQ-BISS-70", 1)]),
]
PARTNERS = [
    ("Épicerie Fine Akwa", "Serge Kamga", 15),
    ("Boutique Bastos Délices", "Nadine Fouda", 12),
    ("Supérette Bonamoussadi", "Paul Ndjock", 10),
    ("Hôtel La Falaise – boutique", "Clarisse Mbida", 20),
    ("Cave du Wouri", "Jean-Marc Eboa", 18),
]
NEIGHBOURHOODS = ["Bonapriso", "Akwa", "Bonamoussadi", "Makepe", "Bastos", "Biyem-Assi", "Deido", "Logpom",
                  "Omnisport", "Kotto"]
CHANNELS = ["whatsapp", "facebook", "telegram", "instagram", "tasting", "fair", "phone"]
SOURCES = ["Facebook", "Un ami", "Dégustation au marché", "WhatsApp status", "Salon MIC", "Instagram", ""]
FLOW = [OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.READY,
        OrderStatus.OUT_FOR_DELIVERY, OrderStatus.DELIVERED]
ORDERS_PER_YEAR = 1500


def _contacts(rng: random.Random) -> list[int]:
    """Up to 2,000 live contacts to order, or 120 demo customers when the file is empty."""
    ids = list(contacts_live().order_by("id").values_list("id", flat=True)[:2000])
    if ids:
        return ids
    return [contact_upsert(phone=f"+2376990{n:05d}", name=f"Client démo {n}").contact.pk for n in range(120)]


def _catalog() -> tuple[list[Product], list[GiftBox]]:
    """The demo products and gift boxes (those missing), then the whole catalog."""
    existing = set(Product.objects.values_list("sku", flat=True))
    Product.objects.bulk_create([Product(sku=s, name=n, kind=k, volume_ml=v, tier=t, price_xaf=p, unit_cost_xaf=c)
                                 for s, n, k, v, t, p, c in PRODUCTS if s not in existing])
    products = {p.sku: p for p in Product.objects.all()}
    existing = set(GiftBox.objects.values_list("sku", flat=True))
    for sku, name, tier, price, items in GIFT_BOXES:
        if sku in existing:
            continue
        box = GiftBox.objects.create(sku=sku, name=name, tier=tier, price_xaf=price,
                                     description=", ".join(products[s].name for s, _ in items))
        GiftBoxItem.objects.bulk_create([GiftBoxItem(gift_box=box, product=products[s], quantity=q) for s, q in items])
    return list(products.values()), list(GiftBox.objects.prefetch_related("items__product"))


@dataclass
class _Catalog:
    boxes: list[GiftBox]
    active_products: list[Product]
    box_cost: dict[int, int]


@dataclass
class _Rows:
    lines: list[OrderLine] = field(default_factory=list)
    history: list[OrderStatusHistory] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)


def _partners() -> list[Partner]:
    """The five demo partners (those missing are added, webhooks off)."""
    existing_partners = set(Partner.objects.values_list("name", flat=True))
    Partner.objects.bulk_create([
        Partner(name=n, contact_person=c, discount_percent=d, webhook_secret=secrets.token_urlsafe(32),
                phone=f"+23769900{i:04d}") for i, (n, c, d) in enumerate(PARTNERS) if n not in existing_partners])
    return list(Partner.objects.filter(name__in=[p[0] for p in PARTNERS]))


def _order_planned(rng: random.Random, *, at: datetime, number: str, now: datetime, catalog: _Catalog,
                   partners: list[Partner], contacts: list[int]) -> tuple[Order, dict[str, Any]]:
    """One demo order placed ``at`` (not saved) and the plan of its rows: lines, status path and its
    times, amounts paid and refunded, rating. One piece: it draws from ``rng`` in a fixed order, so
    the demo data stay the same for a seed."""
    boxes, active_products, box_cost = catalog.boxes, catalog.active_products, catalog.box_cost
    partner = rng.choice(partners) if rng.random() < 0.12 else None
    is_sample = partner is None and rng.random() < 0.04
    lines: list[tuple[Product | None, GiftBox | None, int, int, int]] = []
    if partner is not None or rng.random() < 0.25:
        box = rng.choice(boxes)
        lines.append((None, box, rng.randint(1, 4 if partner else 2), box.price_xaf, box_cost[box.pk]))
    if partner is None:
        for product in rng.sample(active_products, rng.randint(0 if lines else 1, 3)):
            lines.append((product, None, rng.randint(1, 3), product.price_xaf, product.unit_cost_xaf))
    if is_sample:
        lines = [(p, b, 1, 0, c) for p, b, _q, _price, c in lines[:1]]
    subtotal = sum(q * price for _p, _b, q, price, _c in lines)
    discount = subtotal * partner.discount_percent // 100 if partner else (
        subtotal // 10 if rng.random() < 0.1 else 0)
    fee = 0 if is_sample or partner else rng.choice([0, 1000, 1500, 2000])
    age_days = (now - at).days
    roll = rng.random()
    if roll < 0.06:
        path = FLOW[: rng.randint(1, 3)] + [OrderStatus.CANCELLED]
    elif age_days < 3:
        path = FLOW[: rng.randint(1, 6)]
    else:
        path = list(FLOW)
    refund = path[-1] == OrderStatus.DELIVERED and not is_sample and rng.random() < 0.03
    total = subtotal - discount + fee
    paid = total if path[-1] == OrderStatus.DELIVERED or (path[-1] != OrderStatus.CANCELLED and rng.random() < 0.5) else 0
    refunded = total - fee if refund else 0
    if refund:
        path.append(OrderStatus.REFUNDED)
    status = path[-1]
    times = [at + timedelta(hours=6 * i + rng.randint(0, 5)) for i in range(len(path))]
    payment_status = (PaymentStatus.REFUNDED if refunded else PaymentStatus.PAID if paid >= total
                      else PaymentStatus.UNPAID)
    neighbourhood = rng.choice(NEIGHBOURHOODS)
    order = Order(
        number=number, contact_id=rng.choice(contacts),
        partner=partner, partner_reference=f"REF-{rng.randint(1000, 9999)}" if partner else "",
        status=status, payment_method=rng.choice(["cash", "orange_money", "orange_money", "mtn_momo", "mtn_momo"]),
        payment_status=payment_status, subtotal_xaf=subtotal, discount_xaf=discount, delivery_fee_xaf=fee,
        total_xaf=total, paid_xaf=paid, refunded_xaf=refunded, is_sample=is_sample,
        sample_cost_xaf=sum(c * q for _p, _b, q, _price, c in lines) if is_sample else 0,
        delivery_address=f"{neighbourhood}, Douala", neighbourhood=neighbourhood,
        sales_channel="partner" if partner else rng.choice(CHANNELS),
        campaign_code=rng.choice(["", "", "NOEL25", "FETE-MERES", "TONTINE", "RENTREE"]),
        self_reported_source=rng.choice(SOURCES), created_at=at, updated_at=times[-1],
        delivered_at=times[FLOW.index(OrderStatus.DELIVERED)] if OrderStatus.DELIVERED in path else None,
    )
    plan = {"lines": lines, "path": path, "times": times, "paid": paid, "refunded": refunded,
            "rating": rng.choices([5, 4, 3, 2, 1], [50, 30, 10, 6, 4])[0]
            if OrderStatus.DELIVERED in path and rng.random() < 0.35 else None}
    return order, plan


def _order_rows(rng: random.Random, order: Order, plan: dict[str, Any], rows: _Rows) -> None:
    """Add the lines, history, payment, refund, rating and webhook row of a saved demo ``order``."""
    for product, box, quantity, price, cost in plan["lines"]:
        batch = f"B{order.created_at:%Y%m}-{rng.choice('ABC')}" if product else ""
        rows.lines.append(OrderLine(order=order, product=product, gift_box=box, quantity=quantity,
                                   unit_price_xaf=price, unit_cost_xaf=cost, line_total_xaf=price * quantity,
                                   batch=batch, best_before=(order.created_at + timedelta(days=270)).date()
                                   if product else None))
    previous = ""
    for to_status, at in zip(plan["path"], plan["times"], strict=True):
        rows.history.append(OrderStatusHistory(order=order, from_status=previous, to_status=to_status, at=at,
                                          by_partner=order.partner if not previous else None,
                                          note="created" if not previous else ""))
        previous = to_status
    if plan["paid"]:
        rows.payments.append(Payment(order=order, amount_xaf=plan["paid"], method=order.payment_method,
                                provider_reference=f"DEMO-{order.number}" if order.payment_method != "cash" else "",
                                paid_at=plan["times"][min(1, len(plan["times"]) - 1)],
                                created_at=plan["times"][min(1, len(plan["times"]) - 1)]))
    if plan["refunded"]:
        rows.refunds.append(Refund(order=order, amount_xaf=plan["refunded"], reason="Garantie : n'a pas aimé",
                              created_at=plan["times"][-1]))
    if plan["rating"]:
        rows.feedback.append(Feedback(order=order, contact_id=order.contact_id, rating=plan["rating"],
                                 comment=rng.choice(["", "Très bon !", "Un peu trop sucré", "Livraison rapide",
                                                     "Mes invités ont adoré"]),
                                 created_at=plan["times"][FLOW.index(OrderStatus.DELIVERED)] + timedelta(days=1)))
    if order.partner is not None:
        rows.deliveries.append(WebhookDelivery(partner=order.partner, order=order, event="order.status_changed",
                                          payload={"event": "order.status_changed", "data": {
                                              "number": order.number, "status": order.status}},
                                          state=DeliveryState.SUCCEEDED, attempts=1, created_at=order.updated_at,
                                          next_attempt_at=order.updated_at, delivered_at=order.updated_at,
                                          last_status_code=200))


def seed_orders(*, rng: random.Random, stdout: Any = None) -> str:
    """Products, gift boxes, 5 partners (webhooks off) and ~1,500 orders over the last 365 days."""
    products, boxes = _catalog()
    catalog = _Catalog(boxes=boxes, active_products=[p for p in products if p.active],
                       box_cost={b.pk: sum(i.product.unit_cost_xaf * i.quantity for i in b.items.all())
                                 for b in boxes})
    partners = _partners()
    contacts = _contacts(rng)

    now = timezone.now()
    counters = {c.year: c.last for c in OrderCounter.objects.all()}
    moments = sorted(now - timedelta(seconds=rng.randint(3600, 365 * 86400)) for _ in range(ORDERS_PER_YEAR))
    orders: list[Order] = []
    plans: list[dict[str, Any]] = []
    for at in moments:
        year = business_localtime(at).year
        counters[year] = counters.get(year, 0) + 1
        order, plan = _order_planned(rng, at=at, number=f"{conf.ORDER_NUMBER_PREFIX}-{year}-{counters[year]:06d}",
                                     now=now, catalog=catalog, partners=partners, contacts=contacts)
        orders.append(order)
        plans.append(plan)
    Order.objects.bulk_create(orders, batch_size=500)
    # PostgreSQL returns the ids from bulk_create; SQLite (3.35+) does too.
    rows = _Rows()
    for order, plan in zip(orders, plans, strict=True):
        _order_rows(rng, order, plan, rows)
    OrderLine.objects.bulk_create(rows.lines, batch_size=1000)
    OrderStatusHistory.objects.bulk_create(rows.history, batch_size=1000)
    Payment.objects.bulk_create(rows.payments, batch_size=1000)
    Refund.objects.bulk_create(rows.refunds, batch_size=1000)
    Feedback.objects.bulk_create(rows.feedback, batch_size=1000)
    WebhookDelivery.objects.bulk_create(rows.deliveries, batch_size=1000)
    for year, last in counters.items():
        OrderCounter.objects.update_or_create(year=year, defaults={"last": last})
    return (f"{len(products)} products, {len(boxes)} gift boxes, {len(partners)} partners, {len(orders)} orders, "
            f"{len(rows.payments)} payments, {len(rows.refunds)} refunds, {len(rows.feedback)} ratings")
