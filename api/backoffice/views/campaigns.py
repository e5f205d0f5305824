"""Campagnes: campaigns with their tracked links and QR codes, their coupons and costs, and the
Facebook Page's audience drawn as a small chart on the server.

Every write goes through the campaigns app's services (``campaign_create``, ``coupon_create``,
``cost_create``) and every read through its selectors; the QR codes are the API's own images
(``/api/v1/campaigns/<id>/qr.png|svg``, which staff's session may read), so no rule is written twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from api.attribution.selectors import weekly_roi_report_cached
from api.backoffice import labels
from api.backoffice.views.base import StaffPageView, call_service
from api.campaigns.enums import CampaignChannel, CostKind, CouponKind
from api.campaigns.selectors import (
    campaign_links,
    campaign_list,
    campaign_stats,
    costs_query,
    page_audience_list,
)
from api.campaigns.services import campaign_create, cost_create, coupon_create
from api.common.businesstime import business_today, week_start
from api.contacts.enums import Segment

CAMPAIGN_LIST_LIMIT = 100
CAMPAIGN_COSTS_SHOWN = 50
# The audience chart covers about a quarter, what the Page sync backfills (FACEBOOK_PAGE_BACKFILL_DAYS).
AUDIENCE_DAYS = 90
AUDIENCE_TABLE_ROWS = 14

# Which tracked link each QR code holds, in the order staff print them; the keys are campaign_links'.
LINK_NAMES = {
    "redirect": _("Tracked link (counts every scan)"),
    "whatsapp": _("WhatsApp"),
    "messenger": _("Facebook Messenger"),
    "telegram": _("Telegram"),
}
# Costs staff record by hand: ``samples`` is written by the sample orders themselves, so a hand-typed
# one would count twice in the ROI.
MANUAL_COST_KINDS = tuple(k for k in CostKind.values if k != CostKind.SAMPLES)
# A coupon may be kept for one of the plan's three segments (``unknown`` is no one's target).
SEGMENTS = (Segment.HOST.value, Segment.HEALTHY.value, Segment.RESELLER.value)


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    # The code's format is campaign_create's rule: the form only collects it.
    code = forms.CharField(label=_("Code"), max_length=100,
                           help_text=_("Short code printed on flyers and in the links, e.g. FOIRE26."))
    channel = forms.ChoiceField(label=_("Channel"),
                                choices=labels.choices("report_channel", tuple(CampaignChannel.values)))


# How a coupon's value reads, in the words of the form.
COUPON_KINDS = [(CouponKind.PERCENT.value, _("Percentage of the goods")),
                (CouponKind.FIXED.value, _("Amount in FCFA"))]


class CouponForm(forms.Form):
    """A coupon and its rules; left empty, the value is 0 (the coupon only tracks the campaign) and
    there is no limit. The rules themselves are ``coupon_create``'s."""

    code = forms.CharField(label=_("Coupon code"), max_length=100)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    kind = forms.ChoiceField(label=_("Kind of discount"), choices=COUPON_KINDS, initial=CouponKind.PERCENT,
                             required=False)
    value = forms.IntegerField(label=_("Discount (% or FCFA)"), min_value=0, required=False,
                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
                               help_text=_("Taken off the goods, never off the delivery fee. 0: no discount."))
    minimum_order_xaf = forms.IntegerField(label=_("Minimum order (FCFA)"), min_value=0, required=False,
                                           widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    starts_on = forms.DateField(label=_("Valid from"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    ends_on = forms.DateField(label=_("Valid until"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    max_uses = forms.IntegerField(label=_("Uses in all"), min_value=1, required=False,
                                  widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
                                  help_text=_("Empty: no limit. A cancelled order gives its use back."))
    max_uses_per_customer = forms.IntegerField(label=_("Uses per customer"), min_value=1, required=False,
                                               widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    segment = forms.ChoiceField(label=_("Only for the segment"), required=False,
                                choices=[("", _("Every customer")), *labels.choices("segment", SEGMENTS)])

    def rules(self) -> dict[str, Any]:
        """The cleaned rules as ``coupon_create`` takes them."""
        data = self.cleaned_data
        return {"kind": data["kind"] or CouponKind.PERCENT, "value": data["value"] or 0,
                "minimum_order_xaf": data["minimum_order_xaf"] or 0, "starts_on": data["starts_on"],
                "ends_on": data["ends_on"], "max_uses": data["max_uses"],
                "max_uses_per_customer": data["max_uses_per_customer"], "segment": data["segment"] or ""}


class CostForm(forms.Form):
    amount_xaf = forms.IntegerField(label=_("Amount (FCFA)"), widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    kind = forms.ChoiceField(label=_("Kind of cost"), choices=labels.choices("cost_kind", MANUAL_COST_KINDS),
                             initial=CostKind.PRINTING)
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


def _campaign_or_none(pk: int) -> Any:
    return campaign_list().filter(pk=pk).first()


def _not_found(request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "backoffice/not_found.html", {"section": "campaigns"}, status=404)


def week_figures_by_campaign(report: Mapping[str, Any]) -> dict[int, dict[str, int]]:
    """This week's cost, leads and revenue per campaign id, from the attribution report's campaign
    rows (a campaign may have a row per channel of its touches: they are added up)."""
    figures: dict[int, dict[str, int]] = defaultdict(lambda: {"cost_xaf": 0, "leads": 0, "revenue_xaf": 0})
    for row in report["rows"]:
        if row.get("campaign_id"):
            for name in ("cost_xaf", "leads", "revenue_xaf"):
                figures[row["campaign_id"]][name] += int(row[name] or 0)
    return dict(figures)


class CampaignListView(StaffPageView):
    """Every campaign, newest first, with this week's cost, leads and revenue (attribution's report)."""

    template_name = "backoffice/campaigns/list.html"
    section = "campaigns"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        report = weekly_roi_report_cached(week=week_start(business_today()), group="campaign")
        figures = week_figures_by_campaign(report)
        campaigns = list(campaign_list().order_by("-created_at", "-pk")[:CAMPAIGN_LIST_LIMIT])
        context.update(rows=[(c, figures.get(c.pk)) for c in campaigns], week=report["week_start"])
        return context


class CampaignCreateView(StaffPageView):
    """A new campaign through ``campaign_create`` (the code's format and uniqueness are its rules)."""

    template_name = "backoffice/campaigns/new.html"
    section = "campaigns"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_to_response(self.get_context_data(form=CampaignForm()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = CampaignForm(request.POST)
        campaign = None
        if form.is_valid():
            data = form.cleaned_data
            campaign = call_service(form, campaign_create, name=data["name"], code=data["code"],
                                             channel=data["channel"])
        if campaign is None:
            return self.render_to_response(self.get_context_data(form=form), status=400)
        messages.success(request, gettext("Campaign %(code)s created.") % {"code": campaign.code})
        return redirect("backoffice:campaign-detail", pk=campaign.pk)


class CampaignDetailView(StaffPageView):
    """A campaign's page: its figures, its tracked links each with a QR code to download (PNG for
    printing, SVG for the designer), its coupons and its costs, each with a form to add one."""

    template_name = "backoffice/campaigns/detail.html"
    section = "campaigns"
    # Which form a POST carries (its ``action`` field).
    actions = ("coupon", "cost")

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_page()

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        campaign = _campaign_or_none(self.kwargs["pk"])
        if campaign is None:
            return _not_found(request)
        action = request.POST.get("action", "")
        if action not in self.actions:
            return self.render_page(status=400)
        form, done = getattr(self, f"handle_{action}")(campaign)
        if done:
            return redirect(reverse("backoffice:campaign-detail", args=[campaign.pk]) + f"#{action}s")
        return self.render_page(**{f"{action}_form": form}, status=400)

    def handle_coupon(self, campaign: Any) -> tuple[CouponForm, bool]:
        form = CouponForm(self.request.POST)
        if not form.is_valid():
            return form, False
        coupon = call_service(form, coupon_create, campaign=campaign, code=form.cleaned_data["code"],
                              description=form.cleaned_data["description"], **form.rules())
        if coupon is None:
            return form, False
        messages.success(self.request, gettext("Coupon %(code)s created.") % {"code": coupon.code})
        return form, True

    def handle_cost(self, campaign: Any) -> tuple[CostForm, bool]:
        form = CostForm(self.request.POST)
        if not form.is_valid():
            return form, False
        data = form.cleaned_data
        cost = call_service(form, cost_create, campaign=campaign, day=data["day"], kind=data["kind"],
                                     amount_xaf=data["amount_xaf"], note=data["note"])
        if cost is None:
            return form, False
        messages.success(self.request, gettext("Cost recorded."))
        return form, True

    def render_page(self, status: int = 200, **forms_: Any) -> HttpResponse:
        campaign = _campaign_or_none(self.kwargs["pk"])
        if campaign is None:
            return _not_found(self.request)
        links = campaign_links(campaign)
        context = self.get_context_data(
            campaign=campaign, stats=campaign_stats(campaign),
            links=[{"name": name, "label": title, "url": links[name]} for name, title in LINK_NAMES.items()
                   if name in links],
            coupons=list(campaign.coupons.order_by("-created_at", "-pk")),
            costs=list(costs_query(campaign_id=campaign.pk).order_by("-day", "-pk")[:CAMPAIGN_COSTS_SHOWN]),
            coupon_form=forms_.get("coupon_form") or CouponForm(),
            cost_form=forms_.get("cost_form") or CostForm(initial={"day": business_today()}),
        )
        return self.render_to_response(context, status=status)


# --- the Page's audience --------------------------------------------------------------------------------

# The chart's drawing box (SVG user units): wide and short enough for a 360 px phone, scaled by the browser.
CHART_WIDTH = 320
CHART_HEIGHT = 140
_PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_BOTTOM = 4, 316, 18, 118


@dataclass(frozen=True)
class AudienceChart:
    """One Page metric over the days shown: the polyline's points and what the chart's labels say."""

    metric: str
    points: str
    first_day: date
    last_day: date
    lowest: int
    highest: int
    last_x: str  # the last day's point, marked: a single day draws no line
    last_y: str
    latest: list[tuple[date, int]]  # the last values, newest first, for the table under the chart


def audience_chart(metric: str, values: Iterable[tuple[date, int]]) -> AudienceChart | None:
    """The polyline of ``values`` (day, value), days on x and values on y scaled between their
    lowest and highest; None when there is no value. A flat series is drawn in the middle."""
    series = sorted(values)
    if not series:
        return None
    first, last = series[0][0], series[-1][0]
    lowest = min(v for _d, v in series)
    highest = max(v for _d, v in series)
    days = max((last - first).days, 1)
    span = highest - lowest
    points = []
    for day, value in series:
        x = _PLOT_LEFT + (_PLOT_RIGHT - _PLOT_LEFT) * (day - first).days / days
        share = (value - lowest) / span if span else 0.5
        y = _PLOT_BOTTOM - (_PLOT_BOTTOM - _PLOT_TOP) * share
        points.append((f"{x:.1f}", f"{y:.1f}"))
    return AudienceChart(metric=metric, points=" ".join(f"{x},{y}" for x, y in points), first_day=first,
                         last_day=last, lowest=lowest, highest=highest, last_x=points[-1][0], last_y=points[-1][1],
                         latest=list(reversed(series))[:AUDIENCE_TABLE_ROWS])


class PageAudienceView(StaffPageView):
    """Audience de la page: each Facebook Page metric the sync stores (``page_audience_list``) over
    the last ``AUDIENCE_DAYS`` days, as an inline SVG line, with its last values in a table."""

    template_name = "backoffice/campaigns/audience.html"
    section = "campaigns"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        since = business_today() - timedelta(days=AUDIENCE_DAYS)
        by_metric: dict[str, dict[date, int]] = defaultdict(dict)
        # One Page is synced (META_PAGE_ID); rows left by a former Page id keep one value a day.
        for metric, day, value in (page_audience_list().filter(day__gte=since).order_by("metric", "day", "pk")
                                   .values_list("metric", "day", "value")):
            by_metric[metric][day] = value
        charts = [audience_chart(metric, values.items()) for metric, values in by_metric.items()]
        context.update(charts=[c for c in charts if c is not None], days=AUDIENCE_DAYS,
                       chart_width=CHART_WIDTH, chart_height=CHART_HEIGHT, plot_bottom=_PLOT_BOTTOM,
                       plot_left=_PLOT_LEFT, plot_right=_PLOT_RIGHT)
        return context
