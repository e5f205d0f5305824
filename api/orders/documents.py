"""Partner order documents: each order version rendered to JSON once, then served from the cache.

Partner polling is the hottest read of the system: every reseller's system asks again and again
for the same orders, most of which have not changed. Rendering one order costs three queries
(order, customer, lines with their gift boxes) and a serializer walk; finding out which version
is current costs one index lookup. So the rendered JSON of each version is kept in the shared
cache under its ETag. Every order service stamps ``updated_at``, so a change makes a new key and
a cached document is never served for a newer version; old ones expire on their own.
"""

from __future__ import annotations

import json

from django.core.cache import cache
from rest_framework.renderers import JSONRenderer

from api.common.errors import NotFoundError
from api.orders import selectors
from api.orders.selectors import OrderVersion, PollPosition
from api.orders.serializers import PartnerOrderSerializer

# Long enough for a reseller's next polls to hit, short enough that a change outside the order
# (the customer's name after a contact merge) shows within minutes even though it keeps the ETag.
DOCUMENT_TTL_SECONDS = 600

_RENDERER = JSONRenderer()


def _cache_key(version: OrderVersion) -> str:
    return f"partner-order:{version.id}:{version.stamp}"


def partner_order_documents(*, partner_id: int, versions: list[OrderVersion]) -> list[tuple[OrderVersion, bytes]]:
    """The JSON of each of the partner's order versions, in the order given.

    Cached versions cost one ``get_many``; the others are loaded in one go, rendered, cached and
    returned at the version actually read (newer than asked if the order changed meanwhile, which
    its ``updated_at`` then says). An order that no longer exists is left out.
    """
    keys = [_cache_key(version) for version in versions]
    found = cache.get_many(keys) if keys else {}
    missing = [version.id for version, key in zip(versions, keys, strict=True) if key not in found]
    rendered: dict[int, tuple[OrderVersion, bytes]] = {}
    if missing:
        for order in selectors.partner_orders_by_id(partner_id=partner_id, ids=missing):
            version = OrderVersion(order.pk, order.updated_at)
            rendered[order.pk] = (version, _RENDERER.render(PartnerOrderSerializer(order).data))
        cache.set_many({_cache_key(version): document for version, document in rendered.values()},
                       DOCUMENT_TTL_SECONDS)
    documents = []
    for version, key in zip(versions, keys, strict=True):
        if key in found:
            documents.append((version, found[key]))
        elif version.id in rendered:
            documents.append(rendered[version.id])
    return documents


def partner_order_document(*, partner_id: int, version: OrderVersion) -> tuple[OrderVersion, bytes]:
    """The JSON of one of the partner's orders at ``version`` (or newer); a 404 if it is gone."""
    documents = partner_order_documents(partner_id=partner_id, versions=[version])
    if not documents:
        raise NotFoundError(f"No order #{version.id}.")
    return documents[0]


def partner_order_page(*, documents: list[tuple[OrderVersion, bytes]], position: PollPosition | None,
                       more: bool) -> bytes:
    """A polling page (``PartnerOrderPageSerializer``'s shape) spliced from rendered documents."""
    cursor = json.dumps(position.encode() if position else None).encode()
    return (b'{"results":[' + b",".join(document for _, document in documents) + b'],"next_cursor":' + cursor
            + b',"has_more":' + (b"true" if more else b"false") + b"}")
