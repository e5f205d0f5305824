"""Writes of the orders app, by subdomain; this package re-exports what views, other apps, workers
and tests use, so callers import from ``api.orders.services`` whatever module a service lives in.

* ``catalog``: products and gift boxes;
* ``orders``: order numbers, creation, the status machine and the order events it writes;
* ``payments``: payments and refunds;
* ``feedback``: ratings and complaint cases;
* ``partners``: resellers, their API keys and key authentication;
* ``webhooks``: the partner webhook outbox and its sender;
* ``idempotency``: ``Idempotency-Key`` replays;
* ``privacy``: what erasing a contact does to orders' rows.

Order events themselves (the rows, the listeners' registry and their delivery) live in
``api.orders.events``; ``order_event_deliveries_run`` is re-exported here for the worker.
"""

from api.orders.events import order_event_deliveries_run, order_event_delivery_retry
from api.orders.services.catalog import gift_box_create, gift_box_update, product_create, product_update
from api.orders.services.feedback import complaint_create, complaint_update, feedback_record
from api.orders.services.idempotency import (
    idempotency_keys_purge,
    idempotency_replay,
    idempotency_request_hash,
    idempotency_store,
)
from api.orders.services.orders import (
    FEEDBACK_STATUSES,
    MAX_ORDER_XAF,
    TRANSITIONS,
    order_create,
    order_number_next,
    order_status_change,
)
from api.orders.services.partners import (
    api_key_hash,
    partner_api_key_authenticate,
    partner_api_key_create,
    partner_api_key_revoke,
    partner_api_keys_forget,
    partner_create,
    partner_update,
    partner_webhook_secret_rotate,
)
from api.orders.services.payments import order_refund, payment_record
from api.orders.services.privacy import orders_erase_contact
from api.orders.services.webhooks import (
    webhook_deliveries_claim,
    webhook_deliveries_send_due,
    webhook_delivery_attempt,
    webhook_delivery_redeliver,
)

__all__ = [
    "FEEDBACK_STATUSES",
    "MAX_ORDER_XAF",
    "TRANSITIONS",
    "api_key_hash",
    "complaint_create",
    "complaint_update",
    "feedback_record",
    "gift_box_create",
    "gift_box_update",
    "idempotency_keys_purge",
    "idempotency_replay",
    "idempotency_request_hash",
    "idempotency_store",
    "order_create",
    "order_event_deliveries_run",
    "order_event_delivery_retry",
    "order_number_next",
    "order_refund",
    "order_status_change",
    "orders_erase_contact",
    "partner_api_key_authenticate",
    "partner_api_key_create",
    "partner_api_key_revoke",
    "partner_api_keys_forget",
    "partner_create",
    "partner_update",
    "partner_webhook_secret_rotate",
    "payment_record",
    "product_create",
    "product_update",
    "webhook_deliveries_claim",
    "webhook_deliveries_send_due",
    "webhook_delivery_attempt",
    "webhook_delivery_redeliver",
]
