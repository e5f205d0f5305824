"""Rapports through Django's test client: the weekly ROI with its trends, the funnel, customer value,
cohorts and RFM groups, each with sales and empty, in French with percentages and FCFA.

The sales sit in the last complete week (W) and the week before it (W-1), so that the funnel's and the
cohorts' windows, which end today, hold them whatever day the tests run:

    Facebook ads campaign "Coffrets de fin d'année…": 10,000 FCFA spent on W's Monday, 5,000 on W-1's
    Awa   (host, touched by the campaign)  orders on W's Wednesday: 20,000, lines 8,000 -> margin 12,000
    Bella (healthy, nothing known)         orders on W-1's Thursday (5,000) and on W's Thursday (7,000)
    W: revenue 27,000, spend 10,000; the campaign's ROI (12,000 - 10,000) / 10,000 = 20 %, the week's
       (margin 12,000 + 4,000 - 10,000) / 10,000 = 60 %
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape

from api.attribution.selectors import rfm_list
from api.backoffice.views.reports import SPARK_HEIGHT, SPARK_WIDTH, sparkline_points
from tests.backoffice.conftest import REPORT_CAMPAIGN

pytestmark = pytest.mark.django_db

REPORT_PAGES = ["report-weekly", "report-trends", "report-funnel", "report-ltv", "report-cohorts", "report-rfm"]
NNBSP = "\u202f"  # thousands, the French way
NBSP = "\u00a0"  # before FCFA and %


def fcfa(amount: str) -> str:
    return amount.replace(" ", NNBSP) + NBSP + "FCFA"


def page_of(office, name, htmx=False, **params):
    response = office.get(reverse(f"backoffice:{name}"), params, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    assert response.status_code == 200
    return response, response.content.decode()


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_a_visitor_is_sent_to_the_sign_in_page(client, name):
    response = client.get(reverse(f"backoffice:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:login"))


@pytest.mark.parametrize("name", REPORT_PAGES)
def test_every_report_page_offers_the_others_in_a_french_sub_menu(office, name):
    _, page = page_of(office, name)
    menu = re.search(r'<nav class="submenu".*?</nav>', page, re.S)
    assert menu is not None
    for entry in ("Semaine", "Entonnoir", "Valeur client", "Cohortes", "Groupes RFM"):
        assert entry in menu.group(0)
    assert menu.group(0).count('aria-current="page"') == 1


# --- the weekly report ---------------------------------------------------------------------------------------


def test_the_weekly_report_shows_the_campaign_s_roi_as_a_percentage_and_amounts_in_fcfa(office, report_sales, report_week):
    _, page = page_of(office, "report-weekly", semaine=report_week.isoformat())
    campaign_table = re.search(r'<table class="roi stack" id="by-campaign">.*?</table>', page, re.S)
    assert campaign_table is not None
    row = campaign_table.group(0)
    assert escape(REPORT_CAMPAIGN) in row
    assert f'<td data-label="Dépenses">{fcfa("10 000")}</td>' in row
    assert f'<td data-label="ROI">20{NBSP}%</td>' in row
    assert f"{fcfa('27 000')}" in page  # the week's revenue


def test_the_per_campaign_table_fits_a_phone_as_stacked_rows(office, report_sales, report_week):
    # Given a campaign with a long name, when the week is shown
    _, page = page_of(office, "report-weekly", semaine=report_week.isoformat())
    # Then each figure of a row carries its own name, so the row stacks into a card on a phone,
    # and the table sits in a wrapper that scrolls by itself rather than the page
    table = re.search(r'<div class="scroll"><table class="roi stack" id="by-campaign">.*?</table></div>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>.*?</tr>", table.group(0).split("<tbody>")[1], re.S)
    assert len(rows) == 2  # the campaign, and Bella's order that no campaign brought
    for row in rows:
        labels = re.findall(r'<td(?: data-label="([^"]+)")?>', row)
        # only the row's name has no label of its own
        assert labels == ["", "Dépenses", "Chiffre d’affaires", "ROI", "Commandes", "vs semaine passée"]
    css = (Path(settings.BASE_DIR) / "api/backoffice/static/backoffice/app.css").read_text(encoding="utf-8")
    assert re.search(r"@media \(max-width: 40rem\) \{[^@]*table\.stack td::before \{ content: attr\(data-label\)", css)


def test_the_weekly_page_loads_its_trends_from_this_machine_after_itself(office, report_sales, report_week):
    _, page = page_of(office, "report-weekly", semaine=report_week.isoformat())
    trends = f'{reverse("backoffice:report-trends")}?semaine={report_week.isoformat()}'
    assert f'hx-get="{trends}" hx-trigger="load"' in page
    assert f'href="{trends}"' in page  # and a plain link for a phone without JavaScript


def test_the_trends_compare_the_week_with_the_seven_before_it(office, report_sales, report_week):
    response, fragment = page_of(office, "report-trends", semaine=report_week.isoformat(), htmx=True)
    # An htmx request gets the section alone
    assert "<html" not in fragment
    series = response.context["series"]
    assert [row["week_start"] for row in series] == [report_week - timedelta(weeks=i) for i in range(8)]
    assert (series[0]["revenue_xaf"], series[0]["cost_xaf"]) == (27_000, 10_000)
    assert (series[1]["revenue_xaf"], series[1]["cost_xaf"]) == (5_000, 5_000)
    table = re.search(r'<table class="trend" id="trend-table">.*?</table>', fragment, re.S).group(0)
    rows = re.findall(r"<tr.*?</tr>", table.split("<tbody>")[1], re.S)
    assert len(rows) == 8
    assert 'class="total"' in rows[0]
    assert f"<td>27{NNBSP}000</td><td>10{NNBSP}000</td>" in rows[0]  # the heading says FCFA
    # The week's ROI: (margin 16,000 - spend 10,000) / 10,000 = 60 %
    assert f"<td>60{NBSP}%</td>" in rows[0]
    for key in ("revenue_xaf", "cost_xaf", "roi", "new_customers"):
        # a line through the weeks, and a dot on the chosen week at the right end, in SVG's own numbers
        assert re.search(rf'<li id="trend-{key}">.*?<polyline points="[\d., ]+".*?<circle cx="{SPARK_WIDTH}.0" ',
                         fragment, re.S), key
    assert 'aria-label="Chiffre d’affaires, semaine par semaine"' in fragment


def test_the_trends_alone_are_a_full_french_page(office, report_sales, report_week):
    response, page = page_of(office, "report-trends", semaine=report_week.isoformat())
    assert '<html lang="fr">' in page
    assert "Tendances sur 8 semaines" in page


def test_weeks_without_sales_or_spend_say_so(office, report_week):
    _, page = page_of(office, "report-weekly", semaine=report_week.isoformat())
    assert "Rien cette semaine." in page
    _, fragment = page_of(office, "report-trends", semaine=report_week.isoformat(), htmx=True)
    assert "Ni vente ni dépense sur ces semaines" in fragment
    assert "<polyline" not in fragment


def test_a_sparkline_joins_the_known_weeks_highest_at_the_top():
    points = sparkline_points([0, 10, None, 5])
    assert [x for x, _ in points] == [0, SPARK_WIDTH / 3, SPARK_WIDTH]
    top, bottom = 2, SPARK_HEIGHT - 2
    assert [y for _, y in points] == [bottom, top, (top + bottom) / 2]
    assert sparkline_points([None, None]) == []


# --- funnel, customer value, cohorts, RFM ------------------------------------------------------------------


def test_the_funnel_shows_today_s_stages_and_the_weeks_in_french(office, report_sales, report_week):
    response, page = page_of(office, "report-funnel")
    stages = re.search(r'<section class="card" id="stages">.*?</section>', page, re.S).group(0)
    assert re.search(r"Client fidèle</span> <strong>1</strong>", stages)
    assert re.search(r"Client</span> <strong>1</strong>", stages)
    assert "Les 8 dernières semaines" in page
    weeks = re.search(r'<table class="stack" id="funnel-weeks">.*?</table>', page, re.S).group(0)
    assert len(re.findall(r"<tr>", weeks.split("<tbody>")[1])) == 8
    assert 'data-label="Nouveaux contacts"' in weeks
    assert "le plan en prévoit environ 9" in page


def test_an_empty_funnel_says_how_it_fills(office):
    _, page = page_of(office, "report-funnel")
    assert "Aucun contact pour l’instant" in page
    assert 'id="funnel-weeks"' not in page


def test_customer_value_per_segment_and_channel_with_the_best_customers_linked(office, report_sales):
    response, page = page_of(office, "report-ltv")
    assert response.context["ltv"]["overall"]["customers"] == 2
    assert "Un client moyen" in page
    segments = re.search(r'id="ltv-segments">.*?</table>', page, re.S).group(0)
    assert "Les ébahir" in segments
    assert "Sain et MIC" in segments
    channels = re.search(r'id="ltv-channels">.*?</table>', page, re.S).group(0)
    assert "Publicités Facebook" in channels
    assert f'<td data-label="Dépenses">{fcfa("15 000")}</td>' in channels
    facebook = response.context["ltv"]["channels"][0]
    assert 'data-label="Valeur nette du coût d’acquisition"' in channels
    assert fcfa(f"{facebook['ltv_net_of_cac_xaf']:,}".replace(",", " ")) in channels
    ratio = f"{facebook['ltv_to_cac']:.1f}".replace(".", ",") + "\u00d7"  # a multiple, not a percentage
    assert ratio in channels
    assert 'data-label="Coût par nouveau client"' in segments
    best = re.search(r'<ul class="list" id="ltv-customers">.*?</ul>', page, re.S).group(0)
    awa, bella = report_sales["awa"], report_sales["bella"]
    assert best.index(reverse("backoffice:contact-detail", args=[awa.pk])) < best.index(
        reverse("backoffice:contact-detail", args=[bella.pk]))
    assert fcfa("20 000") in best
    assert "2 commandes" in best


def test_customer_value_before_any_sale(office):
    _, page = page_of(office, "report-ltv")
    assert "Aucune vente pour l’instant" in page
    assert "Attribution pas encore calculée." in page


def test_cohorts_show_retention_as_percentages(office, report_sales):
    response, page = page_of(office, "report-cohorts")
    cohorts = response.context["cohorts"]
    assert sum(row["customers"] for row in cohorts) == 2
    table = re.search(r'<table class="cohorts" id="cohort-table">.*?</table>', page, re.S).group(0)
    assert "<th>M0</th>" in table
    assert f'<td class="heat-5">100{NBSP}%</td>' in table  # everyone orders in the month of their first order
    assert "0.5" not in table
    assert "1.0" not in table


def test_no_cohort_before_a_first_order(office):
    _, page = page_of(office, "report-cohorts")
    assert "Aucune première commande sur les 12 derniers mois." in page


def test_rfm_groups_count_their_customers_and_list_them_linked_to_their_cards(office, report_sales):
    awa = report_sales["awa"]
    groups_of = {score.contact_id: score.group for score in rfm_list(filters={})}
    assert set(groups_of) == {awa.pk, report_sales["bella"].pk}
    group = groups_of[awa.pk]
    _, page = page_of(office, "report-rfm")
    groups = re.search(r'<ul class="list" id="rfm-groups">.*?</ul>', page, re.S).group(0)
    assert groups.count("<li") == 9  # every group, even empty ones
    counted = re.findall(r'<a href="\?groupe=(\w+)"><strong>[^<]+</strong></a> · (\d+) clients?', groups)
    assert len(counted) == 9
    assert {g: int(n) for g, n in counted if n != "0"} == {
        g: list(groups_of.values()).count(g) for g in set(groups_of.values())}
    _, page = page_of(office, "report-rfm", groupe=group)
    members = re.search(r'<section class="card" id="rfm-members">.*?</section>', page, re.S).group(0)
    assert f'href="{reverse("backoffice:contact-detail", args=[awa.pk])}"' in members
    assert awa.name in members
    assert fcfa("20 000") in members
    assert "dernière commande il y a" in members


def test_an_unknown_rfm_group_lists_nobody(office, report_sales):
    response, page = page_of(office, "report-rfm", groupe="vip")
    assert response.context["members"] is None
    assert 'id="rfm-members"' not in page


def test_rfm_before_the_first_nightly_scores(office):
    _, page = page_of(office, "report-rfm")
    assert "Aucun client classé pour l’instant" in page
