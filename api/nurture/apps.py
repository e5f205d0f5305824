from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "api.nurture"
    label = "nurture"
    verbose_name = "Nurture"

    def ready(self) -> None:
        """Register nurture with the other apps: demo seeder, contact relations, timeline sources, order listener."""
        # Imported here, not at the top: these modules import models, which Django allows only once
        # every app is loaded, i.e. in ready().
        from api.common.demo import register_demo_seeder
        from api.contacts.registry import register_contact_relation, register_timeline_source
        from api.nurture import selectors, services
        from api.nurture.demo import seed_nurture
        from api.nurture.models import OutboundMessage, ScoreEvent
        from api.orders.events import register_order_listener

        register_demo_seeder("nurture", seed_nurture, after=["contacts"])
        register_contact_relation(OutboundMessage, "contact", label="nurture_messages",
                                  eraser=services.contact_messages_erase)
        # Enrollments are not moved by a merge (two contacts in one sequence would collide on
        # the unique key): they stay with the tombstone, their queued messages move to the target.
        register_contact_relation(ScoreEvent, "contact", label="nurture_score_events")
        register_timeline_source("nurture", selectors.outbound_timeline)
        register_timeline_source("nurture_enrollments", selectors.enrollment_timeline)
        register_order_listener("nurture", services.order_event_handle)
