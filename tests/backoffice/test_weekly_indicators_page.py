"""The weekly report page: the CRM indicators in French, the fixed costs with their form, the note on
attributed (fractional) orders, and the week in progress compared with the same days.

The sales are the shared report fixture's (tests/backoffice/conftest.py): in the last complete week W,
Awa 20,000 (lines 8,000) and Bella 7,000 (lines 3,000); the campaign spent 10,000. So W's margin is
16,000 and, with 5,000 of staff pay added on the page, the profit after fixed costs is
16,000 - 10,000 - 5,000 = 1,000 FCFA; the average basket (20,000 + 7,000) / 2 = 13,500 FCFA.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from api.campaigns.models import FixedCost
from api.common.businesstime import business_today, week_start

pytestmark = pytest.mark.django_db

NNBSP = "\u202f"
NBSP = "\u00a0"


def fcfa(amount: str) -> str:
    return amount.replace(" ", NNBSP) + NBSP + "FCFA"


def section(page: str, section_id: str) -> str:
    found = re.search(rf'<section class="card" id="{section_id}">.*?</section>', page, re.S)
    assert found is not None, section_id
    return found.group(0)


def test_the_week_s_indicators_are_shown_in_french(office, report_sales, report_week):
    page = office.get(reverse("backoffice:report-weekly"), {"semaine": report_week.isoformat()}).content.decode()

    indicators = section(page, "indicators")
    assert "Indicateurs du fichier clients" in indicators
    assert "Panier moyen" in indicators
    assert f'<dd id="basket">{fcfa("13 500")}</dd>' in indicators
    assert "Dégradation du fichier (12 mois)" in indicators
    assert "15 à 25 % par an" in indicators
    assert "Les commandes sont attribuées" in page  # why a row can show 1,53 commande


def test_staff_add_a_fixed_cost_and_see_the_profit_after_it(office, report_sales, report_week):
    url = reverse("backoffice:report-weekly") + f"?semaine={report_week.isoformat()}"

    response = office.post(url, {"action": "fixed_cost", "kind": "staff", "amount_xaf": "5000", "note": "Vendeuse"})

    assert response.status_code == 302
    assert response["Location"].endswith("#fixed-costs")
    cost = FixedCost.objects.get()
    assert (cost.week_start, cost.kind, cost.amount_xaf) == (report_week, "staff", 5_000)
    page = office.get(url).content.decode()
    assert f'<dd id="profit">{fcfa("1 000")}</dd>' in page
    fixed = section(page, "fixed-costs")
    assert "Paie des employés" in fixed
    assert "Vendeuse" in fixed
    assert "en prenant compte de la livraison, du paiement des employés et des autres marges" in fixed


def test_a_negative_amount_shows_the_form_again_and_records_nothing(office, report_week):
    url = reverse("backoffice:report-weekly") + f"?semaine={report_week.isoformat()}"

    response = office.post(url, {"action": "fixed_cost", "kind": "staff", "amount_xaf": "-5"})

    assert response.status_code == 400
    assert 'class="error"' in section(response.content.decode(), "fixed-costs")
    assert not FixedCost.objects.exists()


def test_the_week_in_progress_says_it_is_compared_with_the_same_days(office):
    monday = week_start(business_today())
    days = (business_today() - monday).days + 1

    page = office.get(reverse("backoffice:report-weekly"), {"semaine": monday.isoformat()}).content.decode()

    notice = re.search(r'<p class="warn" id="in-progress">(.*?)</p>', page, re.S)
    assert notice is not None
    assert f"Semaine en cours : {days} jour" in notice.group(1)


def test_a_complete_week_has_no_in_progress_notice(office, report_week):
    page = office.get(reverse("backoffice:report-weekly"), {"semaine": report_week.isoformat()}).content.decode()

    assert 'id="in-progress"' not in page
