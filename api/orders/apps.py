"""The orders app of Confiotes."""
from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "api.orders"
    label = "orders"

    def ready(self) -> None:
        # Imported here, not at the top: Django imports this module before any app's models are loaded.
        from api.common.demo import register_demo_seeder
        from api.common.selectors import register_health_check
        from api.contacts.registry import register_contact_relation, register_timeline_source
        from api.orders import auth  # noqa: F401 - registers the Api-Key scheme with drf-spectacular
        from api.orders.demo import seed_orders
        from api.orders.models import Complaint, Feedback, Order
        from api.orders.selectors import (
            gifts_received_export,
            order_event_deliveries_health,
            orders_export,
            orders_timeline,
        )
        from api.orders.services import orders_erase_contact

        register_contact_relation(Order, "contact", label="orders", exporter=orders_export,
                                  eraser=orders_erase_contact)
        register_contact_relation(Order, "recipient", label="gifts_received", exporter=gifts_received_export,
                                  eraser=orders_erase_contact)
        register_contact_relation(Feedback, "contact", label="order_feedback")
        register_contact_relation(Complaint, "contact", label="complaints")
        register_timeline_source("orders", orders_timeline)
        register_demo_seeder("orders", seed_orders, after=["contacts"])
        register_health_check("order_events", order_event_deliveries_health)

