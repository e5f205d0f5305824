from django.apps import AppConfig


class NurtureConfig(AppConfig):
    name = "api.nurture"
    label = "nurture"
    verbose_name = "Nurture"

    def ready(self) -> None:
        """Register nurture with the other apps: demo seeder, contact relations, timeline sources, order listener."""
        # Imported here, not at the top: these modules import models, which Django allows only once
        # every app is loaded, i.e. in ready().
        from api.campaigns.message_recipients import campaign_recipients_register
        from api.common.demo import register_demo_seeder
        from api.common.staff_messages import register_staff_messenger
        from api.contacts.registry import (
            ContactAttribute,
            register_contact_attribute,
            register_contact_relation,
            register_merge_hook,
            register_timeline_source,
        )
        from api.contacts.services import register_referral_reward_listener
        from api.nurture import selectors, services
        from api.nurture.demo import seed_nurture
        from api.nurture.models import Conversation, InboundMessage, OutboundMessage, ScoreEvent
        from api.nurture.services.inbox import conversations_erase, conversations_merge, staff_message_deliver
        from api.nurture.services.merge_moves import nurture_merge_moves
        from api.nurture.services.referral_rewards import referral_reward_tell
        from api.nurture.services.replenishment import reorder_dates, reorder_due_contact_ids
        from api.orders.events import register_order_listener

        register_demo_seeder("nurture", seed_nurture, after=["contacts"])
        register_contact_relation(OutboundMessage, "contact", label="nurture_messages",
                                  eraser=services.contact_messages_erase)
        register_contact_relation(ScoreEvent, "contact", label="nurture_score_events")
        # What a plain UPDATE cannot move: the profile is combined, an active enrollment moves unless the
        # survivor already follows that sequence (services/merge_moves.py says how).
        register_merge_hook("nurture", nurture_merge_moves)
        # The predicted reorder date in the contact's API, and the list's reorder_due_before/_after filters.
        register_contact_attribute(ContactAttribute(
            name="reorder_due_at", filter_prefix="reorder_due", label="Predicted reorder date",
            values=reorder_dates, contact_ids=reorder_due_contact_ids))
        register_timeline_source("nurture", selectors.outbound_timeline)
        register_timeline_source("nurture_enrollments", selectors.enrollment_timeline)
        # What people wrote, at the time they wrote it: moved by a merge, exported, emptied by an erase.
        register_contact_relation(InboundMessage, "contact", label="nurture_inbound_messages",
                                  eraser=services.inbound_messages_erase)
        register_timeline_source("nurture_inbound", selectors.inbound_timeline)
        # The staff inbox's conversation of a person: moved by a merge (the inbox folds two rows into one),
        # exported, and dropped by an erase (an erased person leaves the inbox).
        register_contact_relation(Conversation, "contact", label="nurture_conversations",
                                  eraser=conversations_erase)
        register_merge_hook("nurture_conversations", conversations_merge)
        # Other apps' staff messages (the Monday summary...) go through the outbox as STAFF rows.
        register_staff_messenger("nurture", staff_message_deliver)
        register_order_listener("nurture", services.order_event_handle)
        # Attribution announces referral rewards through contacts (the two apps stand side by side).
        register_referral_reward_listener("nurture", referral_reward_tell)
        # Who received each campaign's messages, for the reports' response rates (attribution cannot ask us).
        campaign_recipients_register(selectors.campaign_messages_sent)
