"""Coupons typed on an order: the hook through which the app that owns a code prices it.

Orders stand below campaigns, which own coupons, so orders never import campaigns. Instead an app
registers a *coupon resolver* from its ``AppConfig.ready()`` (campaigns registers its coupons; another
app may register its own codes, such as personal referral codes, the same way). ``order_create``
builds a :class:`CouponRequest` (the typed code, the buyer, the priced lines, the goods total, the
order's time) and asks the resolvers in the order they were registered:

* a resolver that does not know the code returns ``None`` and the next one is asked;
* one that knows it returns a :class:`CouponDiscount` (the discount in whole XAF and the code as it
  is stored on the order), or raises :class:`CouponRefused` with one of :data:`REFUSALS` as reason.

A code that no resolver knows is refused as ``unknown``. Orders then caps the discount at the goods
total (the delivery fee is never discounted) and turns a refusal into a 400 ``coupon_invalid``
(:func:`coupon_refusal_error`). Resolvers run inside ``order_create``'s transaction, so they may lock
their rows to count uses safely; :func:`coupon_uses` is the count they read, one definition of a use.

This module is published like ``api.orders.events``: other apps import from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured

from api.common.errors import ApplicationError, field_error
from api.orders.enums import OrderStatus
from api.orders.models import GiftBox, Order, Product

# Why a coupon is refused: the reason is the code of the field error, the message its English text
# (fixed wording, so that the back office can translate it).
REFUSALS: dict[str, str] = {
    "unknown": "No coupon has this code.",
    "expired": "This coupon has expired.",
    "not_started": "This coupon is not valid yet.",
    "used_up": "This coupon has been used as many times as it may be.",
    "used_up_for_customer": "This customer has already used this coupon as many times as allowed.",
    "below_minimum": "The order is below this coupon's minimum amount.",
    "wrong_segment": "This coupon is not meant for this customer's segment.",
    "no_eligible_product": "This coupon covers none of the items of this order.",
}


@dataclass(frozen=True)
class CouponLine:
    """One priced line of the order: a product or a gift box and its total at catalog price."""

    product_id: int | None
    gift_box_id: int | None
    line_total_xaf: int


@dataclass(frozen=True)
class CouponRequest:
    """What a resolver judges: ``code`` upper case without surrounding spaces, never empty."""

    code: str
    contact_id: int
    lines: tuple[CouponLine, ...]
    goods_total_xaf: int
    at: datetime


@dataclass(frozen=True)
class CouponDiscount:
    """A coupon accepted: ``discount_xaf`` whole XAF (0 for a coupon that only tracks a campaign)."""

    code: str
    discount_xaf: int


class CouponRefused(Exception):
    """A known code that cannot be used on this order; ``reason`` is a key of ``REFUSALS``."""

    def __init__(self, reason: str):
        if reason not in REFUSALS:
            raise ValueError(f"unknown coupon refusal {reason!r}")
        super().__init__(reason)
        self.reason = reason


CouponResolver = Callable[[CouponRequest], CouponDiscount | None]
_RESOLVERS: dict[str, CouponResolver] = {}


def register_coupon_resolver(key: str, resolver: CouponResolver) -> None:
    """Ask ``resolver`` about every coupon code typed on an order from now on, after those before it.

    Registering the same pair twice is a no-op; another resolver under a taken key is a
    configuration error.
    """
    known = _RESOLVERS.get(key)
    if known is not None and known is not resolver:
        raise ImproperlyConfigured(f"A coupon resolver is already registered as {key!r}.")
    _RESOLVERS[key] = resolver


def unregister_coupon_resolver(key: str) -> None:
    """Forget the resolver under ``key`` (tests)."""
    _RESOLVERS.pop(key, None)


def coupon_resolve(request: CouponRequest) -> CouponDiscount:
    """The discount of ``request.code`` on this order, from the first resolver that knows the code.

    Raises ``CouponRefused`` (``unknown`` when no resolver knows it). Assumes the caller's transaction.
    """
    for resolver in list(_RESOLVERS.values()):
        found = resolver(request)
        if found is not None:
            return found
    raise CouponRefused("unknown")


def coupon_refusal_error(reason: str, code: str) -> ApplicationError:
    """The 400 of a refused coupon: ``coupon_invalid`` with a field error on ``coupon_code`` whose
    code is the reason."""
    message = REFUSALS[reason]
    return ApplicationError(f"Coupon {code}: {message}", code="coupon_invalid",
                            errors=[field_error("coupon_code", message, reason)],
                            extra={"reason": reason})


def coupon_uses(*, code: str, contact_id: int | None = None) -> int:
    """How many orders used the coupon ``code`` (case-insensitive), of ``contact_id`` when given.

    A use is an order that was not cancelled (cancelling an order gives its use back); a free
    sample is not a use, since it takes no discount.
    """
    orders = Order.objects.filter(coupon_code__iexact=code, is_sample=False).exclude(status=OrderStatus.CANCELLED)
    if contact_id is not None:
        orders = orders.filter(contact_id=contact_id)
    return orders.count()


def catalog_ids_missing(*, product_ids: Iterable[int] = (), gift_box_ids: Iterable[int] = ()) -> tuple[list[int],
                                                                                                      list[int]]:
    """The ids among ``product_ids`` and ``gift_box_ids`` that name no product or gift box, sorted."""
    products, boxes = set(product_ids), set(gift_box_ids)
    found_products = set(Product.objects.filter(pk__in=products).values_list("pk", flat=True))
    found_boxes = set(GiftBox.objects.filter(pk__in=boxes).values_list("pk", flat=True))
    return sorted(products - found_products), sorted(boxes - found_boxes)


__all__ = [
    "REFUSALS",
    "CouponDiscount",
    "CouponLine",
    "CouponRefused",
    "CouponRequest",
    "CouponResolver",
    "catalog_ids_missing",
    "coupon_refusal_error",
    "coupon_resolve",
    "coupon_uses",
    "register_coupon_resolver",
    "unregister_coupon_resolver",
]
