"""Catalog writes: products and gift boxes (coffrets) with their content."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from api.common.errors import ConflictError, NotFoundError, field_error
from api.orders.enums import ProductKind, Tier
from api.orders.models import GiftBox, GiftBoxItem, Product
from api.orders.services._shared import UNSET, Unset, given, invalid


def product_create(*, sku: str, name: str, price_xaf: int, kind: str = ProductKind.SYRUP, volume_ml: int = 0,
                   tier: str = Tier.STANDARD, unit_cost_xaf: int = 0, active: bool = True) -> Product:
    """Add a product to the catalog. A taken SKU is a 409."""
    if Product.objects.filter(sku=sku).exists():
        raise ConflictError(f"A product with SKU {sku} exists.", code="duplicate_sku",
                            errors=[field_error("sku", "Already used.", "unique")])
    product = Product(sku=sku, name=name, kind=kind, volume_ml=volume_ml, tier=tier, price_xaf=price_xaf,
                      unit_cost_xaf=unit_cost_xaf, active=active)
    product.full_clean()
    product.save()
    return product


def _catalog_item_update(model: type[Product] | type[GiftBox], item_id: int, label: str,
                         fields: dict[str, Any]) -> Any:
    """Lock a product or gift box, refuse a SKU another item has, set ``fields`` and validate.

    Assumes an open transaction (the row lock lasts until it commits).
    """
    item = model.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise NotFoundError(f"No {label} #{item_id}.")
    if "sku" in fields and model.objects.filter(sku=fields["sku"]).exclude(pk=item_id).exists():
        raise ConflictError("SKU already used.", code="duplicate_sku",
                            errors=[field_error("sku", "Already used.", "unique")])
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    return item


def product_update(*, product_id: int, sku: str | Unset = UNSET, name: str | Unset = UNSET,
                   kind: str | Unset = UNSET, volume_ml: int | Unset = UNSET, tier: str | Unset = UNSET,
                   price_xaf: int | Unset = UNSET, unit_cost_xaf: int | Unset = UNSET,
                   active: bool | Unset = UNSET) -> Product:
    """Change the given catalog fields of a product; orders keep the prices they were made at."""
    fields = given(sku=sku, name=name, kind=kind, volume_ml=volume_ml, tier=tier, price_xaf=price_xaf,
                   unit_cost_xaf=unit_cost_xaf, active=active)
    with transaction.atomic():
        return _catalog_item_update(Product, product_id, "product", fields)


def _gift_box_items_set(gift_box: GiftBox, items: Sequence[dict[str, Any]]) -> None:
    """Replace the content of ``gift_box`` by ``items`` (``{product_id, quantity}``), each product once."""
    if not items:
        raise invalid("items", "A gift box holds at least one product.", "required")
    ids = [item["product_id"] for item in items]
    if len(set(ids)) != len(ids):
        raise invalid("items", "Each product appears once; use the quantity.", "duplicate")
    known = set(Product.objects.filter(pk__in=ids).values_list("pk", flat=True))
    for index, item in enumerate(items):
        if item["product_id"] not in known:
            raise invalid(f"items[{index}].product_id", f"No product #{item['product_id']}.", "does_not_exist")
    GiftBoxItem.objects.filter(gift_box=gift_box).delete()
    GiftBoxItem.objects.bulk_create(
        [GiftBoxItem(gift_box=gift_box, product_id=i["product_id"], quantity=i.get("quantity", 1)) for i in items]
    )


def gift_box_create(*, sku: str, name: str, price_xaf: int, items: Sequence[dict[str, Any]],
                    tier: str = Tier.PREMIUM, description: str = "", active: bool = True) -> GiftBox:
    """Add a gift box (coffret) with its products."""
    with transaction.atomic():
        if GiftBox.objects.filter(sku=sku).exists():
            raise ConflictError(f"A gift box with SKU {sku} exists.", code="duplicate_sku",
                                errors=[field_error("sku", "Already used.", "unique")])
        box = GiftBox(sku=sku, name=name, price_xaf=price_xaf, tier=tier, description=description, active=active)
        box.full_clean()
        box.save()
        _gift_box_items_set(box, items)
        return box


def gift_box_update(*, gift_box_id: int, items: Sequence[dict[str, Any]] | None = None,
                    sku: str | Unset = UNSET, name: str | Unset = UNSET, description: str | Unset = UNSET,
                    tier: str | Unset = UNSET, price_xaf: int | Unset = UNSET,
                    active: bool | Unset = UNSET) -> GiftBox:
    """Change the given fields of a gift box; ``items`` replaces its content when given."""
    fields = given(sku=sku, name=name, description=description, tier=tier, price_xaf=price_xaf, active=active)
    with transaction.atomic():
        box = _catalog_item_update(GiftBox, gift_box_id, "gift box", fields)
        if items is not None:
            _gift_box_items_set(box, items)
        return box
