"""Input and output serializers of the attribution endpoints (they only translate)."""

from __future__ import annotations

from rest_framework import serializers

from api.attribution import engine
from api.attribution.enums import RfmGroup
from api.attribution.models import AttributionCredit, AttributionRun, RfmScore
from api.common.filters import MAX_ID
from api.common.serializers import BusinessDateField


class WeekQuerySerializer(serializers.Serializer):
    week = BusinessDateField(required=False, help_text="Any day of the week (weeks start on Monday, Africa/Douala), "
                             "between 2000 and 2099; the current week when absent.")
    model = serializers.ChoiceField(choices=list(engine.MODELS), required=False,
                                    help_text="Attribution model; the configured default when absent.")
    group = serializers.ChoiceField(choices=["channel", "campaign"], default="channel", required=False)


class ComparisonQuerySerializer(serializers.Serializer):
    week = BusinessDateField(required=False,
                             help_text="Any day of the week, between 2000 and 2099; the current week when absent.")


class FunnelQuerySerializer(serializers.Serializer):
    weeks = serializers.IntegerField(min_value=1, max_value=104, default=8, required=False)
    until = BusinessDateField(required=False, help_text="A day of the last week shown, between 2000 and 2099.")


class LtvQuerySerializer(serializers.Serializer):
    model = serializers.ChoiceField(choices=list(engine.MODELS), required=False)
    limit = serializers.IntegerField(min_value=1, max_value=500, default=50, required=False)


class CohortQuerySerializer(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=36, default=12, required=False)


class RfmQuerySerializer(serializers.Serializer):
    group = serializers.MultipleChoiceField(choices=RfmGroup.choices, required=False)
    min_r_score = serializers.IntegerField(min_value=1, max_value=5, required=False)
    min_f_score = serializers.IntegerField(min_value=1, max_value=5, required=False)
    min_m_score = serializers.IntegerField(min_value=1, max_value=5, required=False)
    contact_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class CreditQuerySerializer(serializers.Serializer):
    order_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, help_text="The order whose credits to list.")
    model = serializers.ChoiceField(choices=list(engine.MODELS), required=False)


class LimitQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=20, required=False)


class RunRequestSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False, help_text="Recompute every order, not only what changed.")


class WeeklyFiguresSerializer(serializers.Serializer):
    cost_xaf = serializers.IntegerField()
    revenue_xaf = serializers.IntegerField()
    margin_xaf = serializers.IntegerField()
    orders = serializers.FloatField(help_text="Attributed orders: each order's shares add up to 1.")
    new_customers = serializers.FloatField(help_text="Attributed first orders.")
    leads = serializers.IntegerField(help_text="Contacts created this week whose first touch is here.")
    roas = serializers.FloatField(allow_null=True, help_text="revenue / cost")
    roi = serializers.FloatField(allow_null=True, help_text="(margin - cost) / cost")
    cac_xaf = serializers.FloatField(allow_null=True, help_text="cost / new customers")
    margin_rate = serializers.FloatField(allow_null=True)
    break_even_revenue_xaf = serializers.IntegerField(allow_null=True,
                                                      help_text="Revenue whose margin pays the cost.")
    revenue_change_vs_previous_week = serializers.FloatField(allow_null=True)
    roas_change_vs_previous_week = serializers.FloatField(allow_null=True)
    revenue_4_week_average_xaf = serializers.FloatField(allow_null=True)
    revenue_change_vs_4_week_average = serializers.FloatField(allow_null=True)
    roas_4_week_average = serializers.FloatField(allow_null=True)
    cost_without_orders = serializers.BooleanField()


class WeeklyRowSerializer(WeeklyFiguresSerializer):
    key = serializers.CharField()
    channel = serializers.CharField()
    campaign_id = serializers.IntegerField(allow_null=True)
    campaign_code = serializers.CharField(allow_null=True)
    campaign_name = serializers.CharField(allow_null=True)


class LastAttributionRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    finished_at = serializers.DateTimeField()


class WeeklyReportSerializer(serializers.Serializer):
    week_start = serializers.DateField()
    week_end = serializers.DateField()
    model = serializers.CharField()
    group = serializers.CharField()
    rows = WeeklyRowSerializer(many=True)
    totals = WeeklyFiguresSerializer()
    unattributed_cost_xaf = serializers.IntegerField(help_text="Cost of rows without any attributed order.")
    orders_without_source = serializers.FloatField()
    share_orders_without_source = serializers.FloatField(allow_null=True,
                                                         help_text="Ask customers where they came from!")
    last_run = LastAttributionRunSerializer(allow_null=True)


class ModelComparisonCellSerializer(serializers.Serializer):
    model = serializers.CharField()
    revenue_xaf = serializers.IntegerField()
    margin_xaf = serializers.IntegerField()
    orders = serializers.FloatField()
    roas = serializers.FloatField(allow_null=True)


class ModelComparisonRowSerializer(serializers.Serializer):
    channel = serializers.CharField()
    cost_xaf = serializers.IntegerField()
    models = ModelComparisonCellSerializer(many=True)
    spread_xaf = serializers.IntegerField(help_text="Largest minus smallest revenue across models.")


class ModelComparisonSerializer(serializers.Serializer):
    week_start = serializers.DateField()
    week_end = serializers.DateField()
    models = serializers.ListField(child=serializers.CharField())
    rows = ModelComparisonRowSerializer(many=True)


class FunnelWeekSerializer(serializers.Serializer):
    week_start = serializers.DateField()
    suspect = serializers.IntegerField()
    prospect = serializers.IntegerField()
    customer = serializers.IntegerField()
    repeat_customer = serializers.IntegerField()
    ambassador = serializers.IntegerField()
    inactive = serializers.IntegerField()
    prospect_rate = serializers.FloatField(allow_null=True)
    customer_rate = serializers.FloatField(allow_null=True)
    repeat_rate = serializers.FloatField(allow_null=True)
    ambassador_rate = serializers.FloatField(allow_null=True)
    first_orders = serializers.IntegerField()
    median_touches_before_first_order = serializers.FloatField(allow_null=True)


class FunnelSerializer(serializers.Serializer):
    weeks = FunnelWeekSerializer(many=True)
    current = serializers.DictField(child=serializers.IntegerField())
    median_touches_before_first_order = serializers.FloatField(allow_null=True)
    expected_touches = serializers.IntegerField()


class LtvGroupSerializer(serializers.Serializer):
    name = serializers.CharField()
    customers = serializers.IntegerField()
    orders = serializers.IntegerField()
    revenue_xaf = serializers.IntegerField()
    margin_xaf = serializers.IntegerField()
    average_order_value_xaf = serializers.FloatField(allow_null=True)
    orders_per_year = serializers.FloatField(allow_null=True)
    lifetime_years = serializers.FloatField(allow_null=True)
    ltv_xaf = serializers.IntegerField(allow_null=True)
    margin_ltv_xaf = serializers.IntegerField(allow_null=True)


class LtvChannelSerializer(LtvGroupSerializer):
    cost_xaf = serializers.IntegerField()
    new_customers = serializers.FloatField()
    cac_xaf = serializers.FloatField(allow_null=True)
    ltv_to_cac = serializers.FloatField(allow_null=True)


class LtvCustomerSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    name = serializers.CharField()
    segment = serializers.CharField()
    acquisition_channel = serializers.CharField()
    orders = serializers.IntegerField()
    revenue_xaf = serializers.IntegerField()
    margin_xaf = serializers.IntegerField()
    orders_per_year = serializers.FloatField()
    tenure_days = serializers.IntegerField()
    first_order_at = serializers.DateTimeField()
    last_order_at = serializers.DateTimeField()


class LtvSerializer(serializers.Serializer):
    model = serializers.CharField()
    method = serializers.CharField()
    overall = LtvGroupSerializer()
    segments = LtvGroupSerializer(many=True)
    channels = LtvChannelSerializer(many=True)
    customers = LtvCustomerSerializer(many=True)


class CohortRowSerializer(serializers.Serializer):
    cohort = serializers.DateField()
    customers = serializers.IntegerField()
    retention = serializers.ListField(child=serializers.FloatField(), help_text="Share active k months later.")


class CohortSerializer(serializers.Serializer):
    months = serializers.IntegerField()
    cohorts = CohortRowSerializer(many=True)


class RfmScoreSerializer(serializers.ModelSerializer):
    code = serializers.CharField(read_only=True)
    group = serializers.CharField(read_only=True, help_text="champions, loyal, potential_loyalist, new, promising, "
                                  "need_attention, at_risk, cannot_lose or hibernating")

    class Meta:
        model = RfmScore
        fields = ["contact_id", "recency_days", "frequency", "monetary_xaf", "r_score", "f_score", "m_score",
                  "code", "group", "period_days", "computed_at"]


class RunSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="incremental or full")
    state = serializers.CharField(read_only=True, help_text="running, succeeded or failed")
    class Meta:
        model = AttributionRun
        fields = ["id", "kind", "state", "started_at", "finished_at", "watermark", "contacts_processed",
                  "orders_processed", "credits_written", "error"]


class CreditSerializer(serializers.ModelSerializer):
    model = serializers.CharField(read_only=True, help_text="The attribution model of the row.")
    class Meta:
        model = AttributionCredit
        fields = ["order_id", "contact_id", "model", "campaign_id", "channel", "revenue_xaf", "margin_xaf",
                  "weight", "touches", "is_refund", "refund_id", "is_first_order", "occurred_at"]


class LeaderboardRowSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField()
    name = serializers.CharField()
    referral_code = serializers.CharField()
    lifecycle_stage = serializers.CharField()
    referrals = serializers.IntegerField()
    referred_buyers = serializers.IntegerField()
    referred_revenue_xaf = serializers.IntegerField()
    rewards = serializers.IntegerField()
    points = serializers.IntegerField()
