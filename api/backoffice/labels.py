"""Translatable names of the apps' choices as staff read them (the enums' own labels are English).

Only the wording lives here; the values and what they allow stay in the apps' enums and services.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from api.attribution.enums import RfmGroup
from api.attribution.selectors import NO_CAMPAIGN
from api.campaigns.enums import CampaignChannel, CampaignStatus, CostKind, TouchpointKind
from api.contacts.enums import Channel, LifecycleStage, Segment
from api.nurture.enums import Purpose
from api.orders.enums import ComplaintState, OrderStatus, PaymentMethod, PaymentStatus

LABELS: dict[str, dict[str, Promise]] = {
    "order_status": {
        OrderStatus.PENDING: _("Pending"),
        OrderStatus.CONFIRMED: _("Confirmed"),
        OrderStatus.PREPARING: _("Preparing"),
        OrderStatus.READY: _("Ready"),
        OrderStatus.OUT_FOR_DELIVERY: _("Out for delivery"),
        OrderStatus.DELIVERED: _("Delivered"),
        OrderStatus.CANCELLED: _("Cancelled"),
        OrderStatus.REFUNDED: _("Refunded"),
    },
    "payment_method": {
        PaymentMethod.CASH: _("Cash"),
        PaymentMethod.ORANGE_MONEY: _("Orange Money"),
        PaymentMethod.MTN_MOMO: _("MTN MoMo"),
        PaymentMethod.BANK_TRANSFER: _("Bank transfer"),
        PaymentMethod.CARD: _("Card"),
    },
    "payment_status": {
        PaymentStatus.UNPAID: _("Unpaid"),
        PaymentStatus.PARTIAL: _("Partly paid"),
        PaymentStatus.PAID: _("Paid"),
        PaymentStatus.REFUNDED: _("Refunded"),
    },
    "segment": {
        Segment.HOST: _("Host (buys to impress guests)"),
        Segment.HEALTHY: _("Healthy (natural food for the family)"),
        Segment.RESELLER: _("Reseller"),
        Segment.UNKNOWN: _("Unknown"),
    },
    "stage": {
        LifecycleStage.SUSPECT: _("Suspect"),
        LifecycleStage.PROSPECT: _("Prospect"),
        LifecycleStage.CUSTOMER: _("Customer"),
        LifecycleStage.REPEAT_CUSTOMER: _("Loyal customer"),
        LifecycleStage.AMBASSADOR: _("Ambassador"),
        LifecycleStage.INACTIVE: _("Inactive"),
    },
    "channel": {
        Channel.TELEGRAM: _("Telegram"),
        Channel.MESSENGER: _("Facebook Messenger"),
        Channel.WHATSAPP: _("WhatsApp"),
        Channel.INSTAGRAM: _("Instagram"),
        Channel.EMAIL: _("E-mail"),
        Channel.SMS: _("SMS"),
        Channel.PHONE: _("Phone call"),
        Channel.IN_PERSON: _("In person"),
    },
    # A report row's channel: a campaign's channel, else the channel of the touch, else unknown.
    "report_channel": {
        CampaignChannel.FACEBOOK_ADS: _("Facebook ads"),
        CampaignChannel.FACEBOOK_PAGE: _("Facebook page"),
        CampaignChannel.INSTAGRAM: _("Instagram"),
        CampaignChannel.WHATSAPP: _("WhatsApp"),
        CampaignChannel.TELEGRAM: _("Telegram"),
        CampaignChannel.WORD_OF_MOUTH: _("Word of mouth"),
        CampaignChannel.TASTING: _("Tasting"),
        CampaignChannel.FAIR: _("Fair"),
        CampaignChannel.FLYER: _("Flyer"),
        CampaignChannel.REFERRAL: _("Referral"),
        CampaignChannel.OTHER: _("Other"),
        Channel.MESSENGER: _("Facebook Messenger"),
        Channel.EMAIL: _("E-mail"),
        Channel.SMS: _("SMS"),
        Channel.PHONE: _("Phone call"),
        Channel.IN_PERSON: _("In person"),
        "unknown": _("Unknown source"),  # the attribution engine's UNKNOWN_CHANNEL
        NO_CAMPAIGN: _("No campaign"),
    },
    # The kinds of a follow-up task (``FollowUpTask.Kind``, not yet published in api.contacts.enums).
    "task_kind": {
        "call": _("Call"),
        "visit": _("Visit"),
        "sample": _("Send a sample"),
        "other": _("Other"),
    },
    "touchpoint_kind": {
        TouchpointKind.AD_REFERRAL: _("Came from an ad"),
        TouchpointKind.LINK_CLICK: _("Opened a tracked link"),
        TouchpointKind.BOT_START: _("Started the bot"),
        TouchpointKind.INBOUND_MESSAGE: _("Wrote to us"),
        TouchpointKind.PAGE_FOLLOW: _("Followed the Page"),
        TouchpointKind.TASTING_VISIT: _("Came to a tasting"),
        TouchpointKind.FAIR_VISIT: _("Came to a fair"),
        TouchpointKind.SELF_REPORTED_SOURCE: _("Said where they heard of us"),
        TouchpointKind.REFERRAL: _("Referred by another contact"),
        TouchpointKind.OTHER: _("Other contact"),
    },
    "complaint_state": {
        ComplaintState.OPEN: _("Open"),
        ComplaintState.IN_PROGRESS: _("In progress"),
        ComplaintState.RESOLVED: _("Resolved"),
        ComplaintState.CLOSED: _("Closed"),
    },
    "rfm_group": {
        RfmGroup.CHAMPIONS: _("Champions"),
        RfmGroup.LOYAL: _("Loyal"),
        RfmGroup.POTENTIAL_LOYALIST: _("Potential loyalist"),
        RfmGroup.NEW: _("New"),
        RfmGroup.PROMISING: _("Promising"),
        RfmGroup.NEED_ATTENTION: _("Needs attention"),
        RfmGroup.AT_RISK: _("At risk"),
        RfmGroup.CANNOT_LOSE: _("Cannot lose them"),
        RfmGroup.HIBERNATING: _("Hibernating"),
    },
    # What each RFM group means for staff, after the grid of ``api.attribution.metrics.rfm_group``.
    "rfm_group_hint": {
        RfmGroup.CHAMPIONS: _("Bought recently and often: thank them, ask them to bring friends."),
        RfmGroup.LOYAL: _("Buy often: keep them close with news and tastings."),
        RfmGroup.POTENTIAL_LOYALIST: _("Recent customers who came back: a personal message can make them loyal."),
        RfmGroup.NEW: _("First order very recently: welcome them."),
        RfmGroup.PROMISING: _("Recent, but one order only: invite them to order again."),
        RfmGroup.NEED_ATTENTION: _("Neither recent nor frequent: remind them of us."),
        RfmGroup.AT_RISK: _("Used to buy often, not lately: call them."),
        RfmGroup.CANNOT_LOSE: _("Big, frequent buyers gone quiet: call them first."),
        RfmGroup.HIBERNATING: _("Few orders, long ago."),
    },
    "campaign_status": {
        CampaignStatus.DRAFT: _("Draft"),
        CampaignStatus.ACTIVE: _("Active"),
        CampaignStatus.PAUSED: _("Paused"),
        CampaignStatus.ENDED: _("Ended"),
    },
    "cost_kind": {
        CostKind.ADS: _("Ads"),
        CostKind.SAMPLES: _("Samples"),
        CostKind.PRINTING: _("Printing"),
        CostKind.DELIVERY: _("Delivery"),
        CostKind.STAFF: _("Staff"),
        CostKind.OTHER: _("Other"),
    },
    # The Facebook Page metrics the sync stores by default (FACEBOOK_PAGE_METRICS); others show as named.
    "page_metric": {
        "page_follows": _("Page followers"),
        "page_media_view": _("Views of the Page's content"),
    },
    # Where a broadcast stands (views/messages.py ``broadcast_phase``, from the broadcast's state and progress).
    "broadcast_phase": {
        "scheduled": _("Scheduled"),
        "starting": _("Starting"),
        "sending": _("Sending"),
        "finished": _("Finished"),
        "cancelled": _("Cancelled"),
    },
    "sequence_purpose": {
        Purpose.INTRODUCTION: _("Introduction (every new contact)"),
        Purpose.CAMPAIGN: _("Campaign (bot started with its code)"),
        Purpose.AFTER_SALE: _("After sale (order delivered)"),
        Purpose.MONTHLY: _("Monthly personal message"),
        Purpose.MANUAL: _("Manual (enrolled by staff)"),
    },
    # The filters of an audience (``api.contacts.selectors.contacts_audience``).
    "audience_filter": {
        "segment": _("Segment"),
        "lifecycle_stage": _("Stage"),
        "tags": _("Tags"),
        "city": _("Cities"),
        "rfm_group": _("RFM group"),
        "channel": _("Channel"),
        "self_reported_source": _("Where they heard of us"),
        "acquisition_channel": _("Acquisition channel"),
    },
    # Where a contacts import job stands (``ImportJob.Status`` of the contacts app, not published as an enum).
    "import_status": {
        "pending": _("Waiting for a worker"),
        "running": _("Importing"),
        "done": _("Import finished"),
        "failed": _("Import stopped"),
    },
    # Why a message was not sent, a channel stopped working or a sequence stopped (the ``reason`` the
    # nurture app and ``contact_can_receive`` store; a reason not listed shows as stored).
    "message_reason": {
        "no_consent": _("no consent on this channel"),
        "consent_revoked": _("consent withdrawn"),
        "opted_out": _("wants no more messages"),
        "erased": _("asked to be forgotten"),
        "no_identity": _("no address on this channel"),
        "no_such_contact": _("customer card deleted"),
        "unknown_channel": _("channel not handled"),
        "unreachable": _("unreachable on this channel"),
        "blocked": _("blocked the bot"),
        "window_closed": _("more than 24 hours since their last message"),
        "template_required": _("a WhatsApp template is needed after 24 hours"),
        "template_missing": _("WhatsApp template missing"),
        "template_paused": _("WhatsApp template paused by Meta"),
        "template_pending": _("WhatsApp template awaiting approval"),
        "template_rejected": _("WhatsApp template rejected by Meta"),
        "template_changed": _("WhatsApp template changed"),
        "marketing_limit": _("WhatsApp marketing limit reached"),
        "meta_marketing_limit": _("WhatsApp marketing limit reached"),
        "channel_not_configured": _("channel not set up"),
        "rate_limited": _("too many messages at once, will retry"),
        "transient_error": _("temporary error"),
        "unknown_outcome": _("outcome unknown"),
        "monthly_only": _("wants only the monthly message"),
        "ordered": _("ordered"),
        "replied": _("replied"),
        "staff": _("stopped by staff"),
        "broadcast cancelled": _("broadcast cancelled"),
        "superseded by next month": _("replaced by next month's message"),
        "retried by staff": _("sent again by staff"),
    },
}

# Payment methods the order page offers (the service accepts more; these are the shop's own).
COUNTER_PAYMENT_METHODS = (PaymentMethod.CASH, PaymentMethod.ORANGE_MONEY, PaymentMethod.MTN_MOMO)


def label(kind: str, value: str | None) -> str:
    """The staff-facing name of ``value`` among the choices ``kind``; the raw value when unknown."""
    if value is None or value == "":
        return "–"
    return str(LABELS.get(kind, {}).get(value, value))


def choices(kind: str, values: tuple[str, ...] | None = None) -> list[tuple[str, Promise]]:
    """(value, translated name) pairs of ``kind`` for a form field, only ``values`` when given;
    the names stay lazy, so a form class built at import speaks the request's language."""
    names = LABELS[kind]
    return [(v, names[v]) for v in (values or tuple(names))]
