from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "api.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        """Plug into contacts (merge, export, timeline), orders (sample costs, coupon discounts) and the demo data."""
        # Imported here, not at the top: Django imports this module before any app's models are loaded.
        from api.campaigns.demo import seed_campaigns
        from api.campaigns.models import Touchpoint
        from api.campaigns.selectors import touchpoint_timeline, touchpoints_export
        from api.campaigns.services import coupon_discount, order_event_listener
        from api.common.demo import register_demo_seeder
        from api.contacts.registry import register_contact_relation, register_timeline_source
        from api.orders.coupons import register_coupon_resolver
        from api.orders.events import register_order_listener

        # Touchpoints move with a merge and appear in the privacy export and on the timeline.
        register_contact_relation(Touchpoint, "contact", label="touchpoints", exporter=touchpoints_export)
        register_timeline_source("campaigns.touchpoint", touchpoint_timeline)
        register_order_listener("campaigns", order_event_listener)
        # The coupon typed on an order is priced by its rules here (orders cannot import campaigns).
        register_coupon_resolver("campaigns", coupon_discount)
        register_demo_seeder("campaigns", seed_campaigns, after=["contacts", "orders"])
