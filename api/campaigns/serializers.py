"""Input and output serializers of the campaigns API: they translate, the services decide."""

from __future__ import annotations

from rest_framework import serializers

from api.campaigns.enums import (
    CampaignChannel,
    CampaignObjective,
    CampaignStatus,
    CostKind,
    CouponKind,
    TouchpointKind,
)
from api.campaigns.models import (
    CAPTURE_KINDS,
    TOUCHPOINT_CHANNELS,
    Campaign,
    CampaignCost,
    Coupon,
    FacebookCampaign,
    PageAudienceDay,
    Touchpoint,
)
from api.campaigns.selectors import campaign_links
from api.campaigns.services.coupons import MAX_COUPON_XAF
from api.common.filters import MAX_ID
from api.common.serializers import BusinessDateTimeField
from api.contacts.enums import Channel, Segment

# --- campaigns -------------------------------------------------------------------------------------


class CampaignLinksSerializer(serializers.Serializer):
    redirect = serializers.URLField(help_text="Short link that counts the click, then redirects.")
    telegram = serializers.URLField(help_text="Telegram deep link `t.me/<bot>?start=<code>`.")
    messenger = serializers.URLField(help_text="Messenger link `m.me/<page>?ref=<code>`.")
    whatsapp = serializers.URLField(help_text="WhatsApp click-to-chat link with the code in the prefilled text.")


class CampaignInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=32, help_text="Tracking code (3-32 of A-Z 0-9 _ -), stored upper case.")
    channel = serializers.ChoiceField(choices=CampaignChannel.choices)
    objective = serializers.ChoiceField(choices=CampaignObjective.choices, required=False)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, required=False)
    starts_on = serializers.DateField(required=False, allow_null=True)
    ends_on = serializers.DateField(required=False, allow_null=True)
    budget_xaf = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    facebook_campaign_ids = serializers.ListField(child=serializers.RegexField(r"^\d{1,40}$"), required=False)
    facebook_ad_ids = serializers.ListField(child=serializers.RegexField(r"^\d{1,40}$"), required=False)
    landing_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    notes = serializers.CharField(required=False, allow_blank=True)


class CampaignOutSerializer(serializers.ModelSerializer):
    links = serializers.SerializerMethodField()
    click_count = serializers.IntegerField(read_only=True, default=0)
    total_cost_xaf = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Campaign
        fields = ["id", "name", "code", "channel", "objective", "status", "starts_on", "ends_on", "budget_xaf",
                  "facebook_campaign_ids", "facebook_ad_ids", "landing_url", "notes", "links", "click_count",
                  "total_cost_xaf", "created_at", "updated_at"]

    def get_links(self, obj: Campaign) -> CampaignLinksSerializer:
        return campaign_links(obj)  # type: ignore[return-value]


class CampaignStatsSerializer(serializers.Serializer):
    clicks = serializers.IntegerField()
    touchpoints = serializers.IntegerField()
    contacts = serializers.IntegerField()
    cost_xaf = serializers.IntegerField()
    cost_by_kind = serializers.DictField(child=serializers.IntegerField())


# --- coupons -------------------------------------------------------------------------------------------


# Use limits live in 32-bit integer columns on PostgreSQL.
_MAX_USES = 2**31 - 1


class _CouponRulesSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CouponKind.choices, required=False,
                                   help_text="`percent` of the goods (rounded down to the franc) or `fixed` XAF off.")
    value = serializers.IntegerField(min_value=0, max_value=MAX_COUPON_XAF, required=False,
                                     help_text="Percent (0-100) or XAF, after `kind`; 0 only tracks the campaign.")
    minimum_order_xaf = serializers.IntegerField(min_value=0, max_value=MAX_COUPON_XAF, required=False,
                                                 help_text="Smallest goods total (delivery fee left out).")
    starts_on = serializers.DateField(required=False, allow_null=True,
                                      help_text="First valid day (Africa/Douala), included.")
    ends_on = serializers.DateField(required=False, allow_null=True, help_text="Last valid day (Africa/Douala), included.")
    max_uses = serializers.IntegerField(min_value=1, max_value=_MAX_USES, required=False, allow_null=True,
                                        help_text="Orders in all (cancelled ones do not count); null: no limit.")
    max_uses_per_customer = serializers.IntegerField(min_value=1, max_value=_MAX_USES, required=False,
                                                     allow_null=True, help_text="Orders per customer; null: no limit.")
    segment = serializers.ChoiceField(choices=[("", "Everyone"), *Segment.choices], required=False, allow_blank=True,
                                      help_text="Only customers of this segment; empty: everyone.")
    product_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                        max_length=200, help_text="Only these products' lines are discounted.")
    gift_box_ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                         max_length=200, help_text="Only these gift boxes' lines are discounted.")


class CouponInSerializer(_CouponRulesSerializer):
    campaign_id = serializers.IntegerField()
    code = serializers.CharField(max_length=32)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, default=True)


class CouponPatchSerializer(_CouponRulesSerializer):
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class CouponOutSerializer(serializers.ModelSerializer):
    campaign_code = serializers.CharField(source="campaign.code", read_only=True)

    class Meta:
        model = Coupon
        fields = ["id", "code", "campaign", "campaign_code", "description", "active", "kind", "value",
                  "minimum_order_xaf", "starts_on", "ends_on", "max_uses", "max_uses_per_customer", "segment",
                  "product_ids", "gift_box_ids", "created_at"]


# --- costs --------------------------------------------------------------------------------------------------


class CostInSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    day = serializers.DateField()
    kind = serializers.ChoiceField(choices=CostKind.choices)
    amount_xaf = serializers.IntegerField(required=False, min_value=0, help_text="Whole XAF; or give amount+currency.")
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, min_value=0,  # type: ignore[arg-type]
                                      help_text="Amount in `currency`, converted to XAF.")
    currency = serializers.CharField(max_length=3, required=False, default="XAF")
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate(self, attrs):
        if "amount_xaf" not in attrs and "amount" not in attrs:
            raise serializers.ValidationError({"amount_xaf": ["Give amount_xaf, or amount and currency."]})
        return attrs


class CostPatchSerializer(serializers.Serializer):
    day = serializers.DateField(required=False)
    kind = serializers.ChoiceField(choices=CostKind.choices, required=False)
    amount_xaf = serializers.IntegerField(required=False, min_value=0)
    amount = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, min_value=0)  # type: ignore[arg-type]
    currency = serializers.CharField(max_length=3, required=False)
    note = serializers.CharField(max_length=300, required=False, allow_blank=True)


class CostOutSerializer(serializers.ModelSerializer):
    campaign_code = serializers.CharField(source="campaign.code", read_only=True)

    class Meta:
        model = CampaignCost
        fields = ["id", "campaign", "campaign_code", "day", "kind", "source", "amount_xaf", "original_amount",
                  "currency", "note", "created_at", "updated_at"]


# --- touchpoints ------------------------------------------------------------------------------------------

class TouchpointInSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=TOUCHPOINT_CHANNELS)
    kind = serializers.ChoiceField(choices=TouchpointKind.choices)
    campaign_id = serializers.IntegerField(required=False, allow_null=True)
    campaign_code = serializers.CharField(required=False, allow_blank=True, max_length=32)
    occurred_at = BusinessDateTimeField(required=False, help_text="Between 2000 and 2100; now when absent.")
    provider_event_id = serializers.CharField(required=False, max_length=200,
                                              help_text="Your own id of this touch: sending it again adds nothing.")
    details = serializers.DictField(required=False)


class TouchpointBulkInSerializer(serializers.Serializer):
    items = TouchpointInSerializer(many=True)

    def validate_items(self, value):
        if not value:
            raise serializers.ValidationError("Give at least one touchpoint.")
        if len(value) > 500:
            raise serializers.ValidationError("At most 500 touchpoints per request.")
        return value


class TouchpointOutSerializer(serializers.ModelSerializer):
    campaign_code = serializers.SerializerMethodField()

    class Meta:
        model = Touchpoint
        fields = ["id", "contact", "campaign", "campaign_code", "channel", "kind", "occurred_at", "provider_event_id",
                  "details", "created_at", "updated_at"]

    def get_campaign_code(self, obj: Touchpoint) -> str | None:
        return obj.campaign.code if obj.campaign_id and obj.campaign else None


class TouchpointBulkOutSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.IntegerField(allow_null=True))


# --- capture ----------------------------------------------------------------------------------------------


class CaptureAnswerSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=200)
    answer = serializers.CharField(max_length=500, allow_blank=True)


class CaptureInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    phone = serializers.CharField(max_length=40)
    segment = serializers.ChoiceField(choices=Segment.choices)
    kind = serializers.ChoiceField(choices=CAPTURE_KINDS, default=TouchpointKind.TASTING_VISIT)
    campaign_code = serializers.CharField(required=False, allow_blank=True, max_length=32)
    answers = CaptureAnswerSerializer(many=True, required=False)
    self_reported_source = serializers.CharField(required=False, allow_blank=True, max_length=200)
    city = serializers.CharField(required=False, allow_blank=True, max_length=100)
    consent_channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices), required=False,
                                             default=["whatsapp"])
    occurred_at = BusinessDateTimeField(required=False, help_text="Between 2000 and 2100; now when absent.")
    client_event_id = serializers.CharField(required=False, max_length=100,
                                            help_text="Id made by the stand's device: a retried submission adds nothing.")
    referral_code = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                          help_text="The personal code of the ambassador who sent the visitor (any "
                                          "case, with or without a printed prefix such as AMB-): they become the "
                                          "visitor's referrer. Unknown, own, looping or already-referred: a 400 on "
                                          "this field saying why.")

    def validate_answers(self, value):
        if len(value) > 2:
            raise serializers.ValidationError("The capture form has two questions.")
        return value


class CaptureOutSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    created = serializers.BooleanField()
    touchpoint_id = serializers.IntegerField(allow_null=True)
    consents = serializers.ListField(child=serializers.CharField())
    referred_by_id = serializers.IntegerField(allow_null=True, help_text="The visitor's referrer, if any.")


# --- Facebook ---------------------------------------------------------------------------------------------


class FacebookCampaignOutSerializer(serializers.ModelSerializer):
    campaign_code = serializers.SerializerMethodField()
    spend_xaf = serializers.IntegerField(read_only=True, default=0, allow_null=True)
    days_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = FacebookCampaign
        fields = ["id", "facebook_id", "name", "status", "campaign", "campaign_code", "spend_xaf", "days_count",
                  "created_at", "updated_at"]

    def get_campaign_code(self, obj: FacebookCampaign) -> str | None:
        return obj.campaign.code if obj.campaign_id and obj.campaign else None


class FacebookMapInSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField(allow_null=True, help_text="The campaign that claims it; null unmaps.")


class PageAudienceOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = PageAudienceDay
        fields = ["id", "page_id", "metric", "day", "value", "created_at", "updated_at"]


class SyncKickOutSerializer(serializers.Serializer):
    queued = serializers.ListField(child=serializers.CharField())

