from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "api.campaigns"
    label = "campaigns"

    def ready(self) -> None:
        """Plug into contacts (merge, export, timeline), orders (sample costs) and the demo data."""
        from api.campaigns.demo import seed_campaigns
        from api.campaigns.models import Touchpoint
        from api.campaigns.selectors import touchpoint_timeline
        from api.campaigns.services import order_event_listener
        from api.common.demo import register_demo_seeder
        from api.contacts.registry import register_contact_relation, register_timeline_source
        from api.orders.events import register_order_listener

        # Touchpoints move with a merge and appear in the privacy export and on the timeline.
        register_contact_relation(Touchpoint, "contact", label="touchpoints", exporter=_touchpoints_export)
        register_timeline_source("campaigns.touchpoint", touchpoint_timeline)
        register_order_listener(order_event_listener)
        register_demo_seeder("campaigns", seed_campaigns, after=["contacts", "orders"])



def _touchpoints_export(contact_id: int) -> list[dict]:
    from api.campaigns.models import Touchpoint

    return [
        {"id": t.pk, "campaign": t.campaign.code if t.campaign else None, "channel": t.channel, "kind": t.kind,
         "occurred_at": t.occurred_at.isoformat(), "details": t.details}
        for t in Touchpoint.objects.filter(contact_id=contact_id).select_related("campaign").order_by("occurred_at")
    ]
