"""The attribution app of Confiotes."""
from django.apps import AppConfig


def stage_after_merge(*, target_id: int, source_id: int) -> dict[str, int]:
    """A contacts merge hook: the survivor's facts now include the merged-away contact's (orders,
    touches, messages moved), so the lifecycle rules run again (``services.lifecycle_update``: never
    down, never over a stage staff set). Returns ``{"lifecycle_stage_moved": 0 or 1}`` for the merge record."""
    from api.attribution.services import lifecycle_update

    return {"lifecycle_stage_moved": int(lifecycle_update(contact_id=target_id) is not None)}


class AttributionConfig(AppConfig):
    name = "api.attribution"
    label = "attribution"

    def ready(self) -> None:
        """Listen to order events (lifecycle moves, referral rewards), hold reward coupons, offer RFM groups
        as a contact filter and nurture audience, and add demo credits."""
        from api.attribution.demo import seed_attribution
        from api.attribution.enums import RfmGroup
        from api.attribution.models import RfmScore
        from api.attribution.services import order_event_listener, reward_coupon_holder
        from api.common.demo import register_demo_seeder
        from api.contacts.registry import ContactGrouping, register_contact_grouping, register_merge_hook
        from api.orders.coupons import register_coupon_holder
        from api.orders.events import register_order_listener

        register_order_listener("attribution", order_event_listener)
        # After a merge the survivor's stage follows from both people's facts (after nurture's moves).
        register_merge_hook("attribution.lifecycle", stage_after_merge)
        # A referrer's reward coupon is theirs alone: orders refuses it to anyone else.
        register_coupon_holder("attribution.referral_rewards", reward_coupon_holder)
        register_demo_seeder("attribution", seed_attribution, after=["contacts", "orders", "campaigns"])
        register_contact_grouping(ContactGrouping(
            name="rfm_group", label="RFM group, recomputed nightly (repeat for any of several)",
            choices=list(RfmGroup.choices),
            contact_ids=lambda groups: RfmScore.objects.filter(group__in=groups).values("contact_id")))
