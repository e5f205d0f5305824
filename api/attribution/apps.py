"""The attribution app of Confiotes."""
from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "api.attribution"
    label = "attribution"

    def ready(self) -> None:
        """Listen to order events (lifecycle moves, referral rewards) and add demo credits."""
        from api.attribution.demo import seed_attribution
        from api.attribution.services import order_event_listener
        from api.common.demo import register_demo_seeder
        from api.orders.events import register_order_listener

        register_order_listener(order_event_listener)
        register_demo_seeder("attribution", seed_attribution, after=["contacts", "orders", "campaigns"])
