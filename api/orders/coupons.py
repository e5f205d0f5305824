"""Coupons typed on an order: the hook through which the app that owns a code prices it.

Orders stand below campaigns, which own coupons, so orders never import campaigns. Instead an app
registers a *coupon resolver* from its ``AppConfig.ready()`` (campaigns registers its coupons; another
app may register its own codes, such as personal referral codes, the same way). ``order_create``
builds a :class:`CouponRequest` (the typed code, the buyer, the priced lines, the goods total, the
order's time) and asks the resolvers in the order they were registered:

* a resolver that does not know the code returns ``None`` and the next one is asked;
* one that knows it returns a :class:`CouponDiscount` (the discount in whole XAF and the code as it
  is stored on the order), or raises :class:`CouponRefused` with one of :data:`REFUSALS` as reason.

A code that no resolver knows is tried last as a contact's personal referral code
(:func:`referral_coupon_discount`: the friend's discount on their first order, and the order makes
the code's owner their referrer); a code nobody knows is refused as ``unknown``.

A coupon may be handed to one person (the reward coupon of a referrer): the app that hands it out
registers a *holder lookup* (:func:`register_coupon_holder`), and such a code typed by anyone else is
refused as ``not_for_this_customer`` before any resolver prices it.

Orders then caps the discount at the goods
total (the delivery fee is never discounted) and turns a refusal into a 400 ``coupon_invalid``
(:func:`coupon_refusal_error`). Resolvers run inside ``order_create``'s transaction, so they may lock
their rows to count uses safely; :func:`coupon_uses` is the count they read, one definition of a use.

This module is published like ``api.orders.events``: other apps import from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from api.common.errors import ApplicationError, field_error
from api.common.hooks import Hooks
from api.contacts.selectors import ReferralRefusal, contact_id_resolve, referral_code_check
from api.orders import conf
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
    "not_for_this_customer": "This coupon was given to another customer; only they may use it.",
    "own_referral_code": "This is the customer's own referral code: it gives a discount to the friends they bring, "
                         "not to themselves.",
    "already_referred": "This customer was already referred by another ambassador; a friend's code cannot "
                        "change that.",
    "referral_loop": "This ambassador was themselves referred by this customer: a referral cannot go in a loop.",
    "returning_customer": "A friend's referral code is for a first order; this customer already had an order "
                          "delivered.",
}
# The refusals of ``contacts.selectors.referral_code_check`` as coupon refusals.
_REFERRAL_REFUSALS = {
    ReferralRefusal.SELF_REFERRAL: "own_referral_code",
    ReferralRefusal.ALREADY_REFERRED: "already_referred",
    ReferralRefusal.LOOP: "referral_loop",
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
    """A coupon accepted: ``discount_xaf`` whole XAF (0 for a coupon that only tracks a campaign).
    ``referrer_id``: the code is this contact's referral code, who becomes the buyer's referrer."""

    code: str
    discount_xaf: int
    referrer_id: int | None = None


class CouponRefused(Exception):
    """A known code that cannot be used on this order; ``reason`` is a key of ``REFUSALS``."""

    def __init__(self, reason: str):
        if reason not in REFUSALS:
            raise ValueError(f"unknown coupon refusal {reason!r}")
        super().__init__(reason)
        self.reason = reason


CouponResolver = Callable[[CouponRequest], CouponDiscount | None]
_RESOLVERS: Hooks[CouponResolver] = Hooks("A coupon resolver")
# ``holder_of(code)``: the contact a coupon was given to, or None for a code it did not hand out.
CouponHolderLookup = Callable[[str], int | None]
_HOLDERS: Hooks[CouponHolderLookup] = Hooks("A coupon holder lookup")


def register_coupon_resolver(key: str, resolver: CouponResolver) -> None:
    """Ask ``resolver`` about every coupon code typed on an order from now on, after those before it.

    Registering the same pair twice is a no-op; another resolver under a taken key is a
    configuration error.
    """
    _RESOLVERS.register(key, resolver)


def unregister_coupon_resolver(key: str) -> None:
    """Forget the resolver under ``key`` (tests)."""
    _RESOLVERS.unregister(key)


def register_coupon_holder(key: str, holder_of: CouponHolderLookup) -> None:
    """Ask ``holder_of(code)`` about every coupon code typed on an order: when it names a contact, only
    that contact (or the survivor of its merge) may use the code. Same rules as the resolvers' registry."""
    _HOLDERS.register(key, holder_of)


def unregister_coupon_holder(key: str) -> None:
    """Forget the holder lookup under ``key`` (tests)."""
    _HOLDERS.unregister(key)


def coupon_resolve(request: CouponRequest) -> CouponDiscount:
    """The discount of ``request.code`` on this order, from the first resolver that knows the code, else
    as a personal referral code.

    Raises ``CouponRefused``: ``not_for_this_customer`` for a coupon handed to someone else, a resolver's
    refusal, ``unknown`` when nobody knows the code. Assumes the caller's transaction.
    """
    for holder_of in list(_HOLDERS.values()):
        holder = holder_of(request.code)
        if holder is not None and (contact_id_resolve(holder) or holder) != request.contact_id:
            raise CouponRefused("not_for_this_customer")
    for resolver in list(_RESOLVERS.values()):
        found = resolver(request)
        if found is not None:
            return found
    found = referral_coupon_discount(request)
    if found is not None:
        return found
    raise CouponRefused("unknown")


def referral_coupon_discount(request: CouponRequest) -> CouponDiscount | None:
    """A contact's personal referral code typed as a coupon, or None when it is no one's code.

    The friend's first order gets ``REFERRAL_FRIEND_DISCOUNT_PERCENT`` off the goods, and the code's owner
    is returned as ``referrer_id`` (``order_create`` records the referral with the order). Refused: the
    buyer's own code, a buyer already referred by someone else, a loop (the owner was referred by the
    buyer, directly or through a chain), a buyer with an order already delivered (``returning_customer``)
    or one who already used this code on an order not cancelled (``used_up_for_customer``). A buyer
    already referred by this very owner (through the bot, say) gets the discount on their first order.
    """
    check = referral_code_check(contact_id=request.contact_id, code=request.code)
    if check.referrer_id is None:
        return None
    if check.refusal is not None:
        raise CouponRefused(_REFERRAL_REFUSALS.get(check.refusal, "unknown"))
    delivered = (Order.objects.filter(contact_id=request.contact_id, is_sample=False, delivered_at__isnull=False)
                 .exclude(status=OrderStatus.CANCELLED))
    if delivered.exists():
        raise CouponRefused("returning_customer")
    if coupon_uses(code=check.code, contact_id=request.contact_id) > 0:
        raise CouponRefused("used_up_for_customer")
    discount = request.goods_total_xaf * conf.REFERRAL_FRIEND_DISCOUNT_PERCENT // 100
    return CouponDiscount(code=check.code, discount_xaf=discount, referrer_id=check.referrer_id)


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
    "CouponHolderLookup",
    "CouponLine",
    "CouponRefused",
    "CouponRequest",
    "CouponResolver",
    "catalog_ids_missing",
    "coupon_refusal_error",
    "coupon_resolve",
    "coupon_uses",
    "referral_coupon_discount",
    "register_coupon_holder",
    "register_coupon_resolver",
    "unregister_coupon_holder",
    "unregister_coupon_resolver",
]
