"""The attribution app of Confiotes."""
from django.apps import AppConfig


class AttributionConfig(AppConfig):
    name = "api.attribution"
    label = "attribution"

    def ready(self) -> None:
        """Listen to order events (lifecycle moves, referral rewards), offer RFM groups as a contact
        filter and nurture audience, and add demo credits."""
        from api.attribution.demo import seed_attribution
        from api.attribution.enums import RfmGroup
        from api.attribution.models import RfmScore
        from api.attribution.services import order_event_listener
        from api.common.demo import register_demo_seeder
        from api.contacts.registry import ContactGrouping, register_contact_grouping
        from api.orders.events import register_order_listener

        register_order_listener("attribution", order_event_listener)
        register_demo_seeder("attribution", seed_attribution, after=["contacts", "orders", "campaigns"])
        register_contact_grouping(ContactGrouping(
            name="rfm_group", label="RFM group, recomputed nightly (repeat for any of several)",
            choices=list(RfmGroup.choices),
            contact_ids=lambda groups: RfmScore.objects.filter(group__in=groups).values("contact_id")))
