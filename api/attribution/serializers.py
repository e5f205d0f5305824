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
                             "between 2000 and 2099; the last complete week when absent.")
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


class IndicatorCampaignSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    campaign_code = serializers.CharField(allow_null=True)
    campaign_name = serializers.CharField(allow_null=True)
    channel = serializers.CharField(allow_null=True)
    clicks = serializers.IntegerField(help_text="Clicks on the campaign's tracked link by known contacts (link_click "
                                      "touches) in the week.")
    replies_with_code = serializers.IntegerField(help_text="Contacts who wrote or opened the bot with the campaign's "
                                                 "code in the week.")
    recipients = serializers.IntegerField(allow_null=True, help_text="Contacts who received a message of the campaign "
                                          "in the week; null when the sending app does not report them.")
    responders = serializers.IntegerField(allow_null=True, help_text="Of them, who wrote, opened the bot or clicked "
                                          "within 7 days.")
    response_rate = serializers.FloatField(allow_null=True, help_text="responders / recipients (a ratio).")
    click_through_rate = serializers.FloatField(allow_null=True, help_text="clicks / ad impressions, when known.")
    clicks_per_recipient = serializers.FloatField(allow_null=True, help_text="clicks / recipients, when known.")


class FileDecaySerializer(serializers.Serializer):
    base = serializers.IntegerField(help_text="Live contacts created more than 12 months before the week's end.")
    unreachable = serializers.IntegerField(help_text="Of them, opted out or found unreachable in the 12 months.")
    stale = serializers.IntegerField(help_text="Of the others, no touch and no order in the 12 months.")
    decay_rate = serializers.FloatField(allow_null=True, help_text="(unreachable + stale) / base, over 12 months.")
    reference_low = serializers.FloatField(help_text="The French texts' yearly decay: 15 % ...")
    reference_high = serializers.FloatField(help_text="... to 25 %.")
    within_reference = serializers.BooleanField(allow_null=True)


class IndicatorsSerializer(serializers.Serializer):
    """The CRM indicators of one week; definitions in ``api.attribution.indicators`` (and the README)."""

    week_start = serializers.DateField()
    week_end = serializers.DateField()
    in_progress = serializers.BooleanField()
    days_elapsed = serializers.IntegerField()
    prospects_now = serializers.IntegerField(help_text="Contacts at the prospect stage when the figures were computed.")
    new_prospects = serializers.IntegerField(help_text="Lifecycle moves to prospect in the week.")
    new_customers = serializers.IntegerField(help_text="Contacts whose first sale ever is in the week.")
    prospect_to_customer_rate = serializers.FloatField(allow_null=True, help_text="new customers / new prospects of "
                                                       "the week: a flow ratio, may pass 1.")
    sales = serializers.IntegerField(help_text="Sales placed in the week (not cancelled, not samples).")
    average_basket_xaf = serializers.IntegerField(allow_null=True, help_text="Net amount (total less delivery fee) "
                                                  "of the week's sales / sales.")
    purchase_frequency = serializers.FloatField(allow_null=True, help_text="Sales / customers over the 12 months "
                                                "before the week's end.")
    active_customers_at_start = serializers.IntegerField()
    lost_customers = serializers.IntegerField(help_text="Active customers whose churn_after_days of silence ended in "
                                              "the week.")
    attrition_rate = serializers.FloatField(allow_null=True, help_text="lost / active at the start (a ratio).")
    lapsed_customers_at_start = serializers.IntegerField()
    reactivated_customers = serializers.IntegerField()
    reactivation_rate = serializers.FloatField(allow_null=True, help_text="reactivated / lapsed at the start.")
    churn_after_days = serializers.IntegerField()
    recipients_known = serializers.BooleanField(help_text="Whether the recipients of campaign messages are known "
                                                "(response rates need them).")
    campaigns = IndicatorCampaignSerializer(many=True)
    file_decay = FileDecaySerializer()
    purchase_types = serializers.DictField(child=serializers.IntegerField(), help_text="Customers per type of "
                                           "purchase (FRAT): syrup, liqueur, other, gift_box.")
    computed_at = serializers.DateTimeField(required=False, help_text="When the stored figures were computed.")


class IndicatorsQuerySerializer(serializers.Serializer):
    week = BusinessDateField(required=False, help_text="Any day of the week, between 2000 and 2099; the last "
                             "complete week when absent.")


class WeeklyFiguresSerializer(serializers.Serializer):
    cost_xaf = serializers.IntegerField()
    revenue_xaf = serializers.IntegerField()
    margin_xaf = serializers.IntegerField()
    orders = serializers.FloatField(help_text="Attributed orders, a fractional count: an order touched by several "
                                    "channels is shared between them (its shares add up to 1), so a row may show "
                                    "1.53 orders; the total of a week is a whole number of orders (less refunds).")
    new_customers = serializers.FloatField(help_text="Attributed first orders: fractional like `orders`.")
    leads = serializers.IntegerField(help_text="Contacts created this week whose first touch is here.")
    roas = serializers.FloatField(allow_null=True, help_text="revenue / cost")
    roi = serializers.FloatField(allow_null=True, help_text="(margin - cost) / cost")
    cac_xaf = serializers.FloatField(allow_null=True, help_text="cost / new customers")
    margin_rate = serializers.FloatField(allow_null=True)
    break_even_revenue_xaf = serializers.IntegerField(allow_null=True,
                                                      help_text="Revenue whose margin pays the cost.")
    revenue_change_vs_previous_week = serializers.FloatField(
        allow_null=True, help_text="A ratio: 0.25 = +25 %. For a week in progress, against the same days (Monday to "
        "the same weekday) of the previous week.")
    roas_change_vs_previous_week = serializers.FloatField(allow_null=True, help_text="A ratio (0.25 = +25 %).")
    revenue_4_week_average_xaf = serializers.FloatField(allow_null=True, help_text="For a week in progress, the "
                                                        "average of the same days of the 4 weeks before.")
    revenue_change_vs_4_week_average = serializers.FloatField(allow_null=True, help_text="A ratio (0.25 = +25 %).")
    roas_4_week_average = serializers.FloatField(allow_null=True)
    cost_without_orders = serializers.BooleanField()


class WeeklyRowSerializer(WeeklyFiguresSerializer):
    key = serializers.CharField()
    channel = serializers.CharField()
    campaign_id = serializers.IntegerField(allow_null=True)
    campaign_code = serializers.CharField(allow_null=True)
    campaign_name = serializers.CharField(allow_null=True)


class FixedCostsByKindSerializer(serializers.Serializer):
    staff = serializers.IntegerField(help_text="Staff pay.")
    delivery = serializers.IntegerField()
    other = serializers.IntegerField(help_text="Other overheads.")


class WeeklyTotalsSerializer(WeeklyFiguresSerializer):
    """The week's totals, and the profit after the fixed costs (the break-even the plan asks for:
    "en prenant compte de la livraison, du paiement des employés et des autres marges")."""

    fixed_costs_xaf = FixedCostsByKindSerializer(help_text="The week's fixed costs per kind (for a week in progress, "
                                                 "days_elapsed sevenths of them).")
    fixed_cost_total_xaf = serializers.IntegerField()
    profit_after_fixed_costs_xaf = serializers.IntegerField(help_text="margin - ad and campaign costs - fixed costs")
    roi_after_fixed_costs = serializers.FloatField(allow_null=True, help_text="profit after fixed costs / (costs + "
                                                   "fixed costs); a ratio.")
    break_even_revenue_after_fixed_costs_xaf = serializers.IntegerField(
        allow_null=True, help_text="Revenue whose margin pays the campaign costs and the fixed costs.")
    profit_change_vs_previous_week = serializers.FloatField(allow_null=True, help_text="A ratio (0.25 = +25 %).")


class LastAttributionRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    finished_at = serializers.DateTimeField()


class WeeklyReportSerializer(serializers.Serializer):
    week_start = serializers.DateField()
    week_end = serializers.DateField()
    model = serializers.CharField()
    group = serializers.CharField()
    in_progress = serializers.BooleanField(help_text="The week is not over: its figures count the days elapsed.")
    days_elapsed = serializers.IntegerField(help_text="Days of the week begun (Monday = 1; 7 when it is over).")
    compared_days = serializers.IntegerField(help_text="Days of each week the comparisons count (Monday first): the "
                                             "days elapsed for a week in progress, else 7.")
    rows = WeeklyRowSerializer(many=True)
    totals = WeeklyTotalsSerializer()
    unattributed_cost_xaf = serializers.IntegerField(help_text="Cost of rows without any attributed order.")
    orders_without_source = serializers.FloatField()
    share_orders_without_source = serializers.FloatField(allow_null=True,
                                                         help_text="Ask customers where they came from!")
    last_run = LastAttributionRunSerializer(allow_null=True)
    indicators = IndicatorsSerializer(required=False, help_text="The week's CRM indicators, as "
                                      "`GET /api/v1/reports/indicators` gives them.")


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
    """One group's LTV with every step of the method (``api.attribution.ltv``) and its acquisition cost."""

    name = serializers.CharField()
    customers = serializers.IntegerField()
    orders = serializers.IntegerField()
    revenue_xaf = serializers.IntegerField(help_text="Net revenue: after coupons and refunds, without delivery fees.")
    margin_xaf = serializers.IntegerField()
    average_order_value_xaf = serializers.FloatField(allow_null=True, help_text="Net revenue / orders.")
    orders_per_year = serializers.FloatField(allow_null=True, help_text="Orders / customer-years.")
    lifetime_years = serializers.FloatField(
        allow_null=True, help_text="Expected customer lifetime: 1 / annual churn rate, between the floor and the "
        "ceiling of `parameters` (before 2026-12 this was the mean span between first and last order).")
    ltv_xaf = serializers.IntegerField(allow_null=True, help_text="Average order value x orders per year x lifetime, "
                                       "at least the net revenue per customer so far.")
    margin_ltv_xaf = serializers.IntegerField(allow_null=True, help_text="LTV in margin, at least the margin per "
                                              "customer so far.")
    revenue_per_customer_xaf = serializers.IntegerField(allow_null=True,
                                                        help_text="What the group has already spent, per customer.")
    margin_per_customer_xaf = serializers.IntegerField(allow_null=True)
    lost_customers = serializers.IntegerField(help_text="Customers without an order for `churn_after_days`.")
    customer_years = serializers.FloatField(allow_null=True, help_text="Sum over the customers of first order to "
                                            "`churn_after_days` after the last, in years.")
    annual_churn_rate = serializers.FloatField(allow_null=True, help_text="Lost customers / customer-years.")
    lifetime_bound = serializers.CharField(allow_null=True, help_text="`floor` or `ceiling` when the lifetime was "
                                           "bounded; null otherwise.")
    ltv_floor_applied = serializers.BooleanField(help_text="The formula gave less than the group already spent.")
    cost_xaf = serializers.IntegerField(help_text="Acquisition costs (a segment's share of its channels' costs).")
    new_customers = serializers.FloatField(help_text="First orders attributed under the model.")
    cac_xaf = serializers.FloatField(allow_null=True, help_text="cost / new customers")
    ltv_to_cac = serializers.FloatField(allow_null=True, help_text="margin LTV / CAC")
    revenue_ltv_to_cac = serializers.FloatField(allow_null=True, help_text="LTV / CAC")
    ltv_net_of_cac_xaf = serializers.IntegerField(allow_null=True,
                                                  help_text="LTV net of acquisition cost: LTV - CAC.")
    margin_ltv_net_of_cac_xaf = serializers.IntegerField(allow_null=True, help_text="margin LTV - CAC")


class LtvChannelSerializer(LtvGroupSerializer):
    """A channel's row: the same fields as every group (kept as its own name for the schema)."""


class LtvParametersSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(help_text="The time churn and tenure are measured at.")
    churn_after_days = serializers.IntegerField(help_text="A customer is lost after this many days without an order.")
    min_lifetime_years = serializers.FloatField(help_text="Floor of the expected lifetime (churn_after_days).")
    max_lifetime_years = serializers.FloatField(help_text="Ceiling of the expected lifetime.")


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
    lost = serializers.BooleanField(help_text="No order for `churn_after_days`.")


class LtvSerializer(serializers.Serializer):
    model = serializers.CharField()
    method = serializers.CharField()
    parameters = LtvParametersSerializer()
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
    top_category = serializers.CharField(read_only=True, help_text="Type of purchase (FRAT): the product category "
                                         "the customer spent most on in the period: syrup, liqueur, other or "
                                         "gift_box; empty without order lines.")

    class Meta:
        model = RfmScore
        fields = ["contact_id", "recency_days", "frequency", "monetary_xaf", "r_score", "f_score", "m_score",
                  "code", "group", "top_category", "period_days", "computed_at"]


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
    referrals = serializers.IntegerField(help_text="Contacts they referred, whatever the path.")
    referrals_by_code = serializers.IntegerField(help_text="Of those, the ones who typed their referral code.")
    referred_buyers = serializers.IntegerField()
    referred_revenue_xaf = serializers.IntegerField()
    rewards = serializers.IntegerField()
    points = serializers.IntegerField()
