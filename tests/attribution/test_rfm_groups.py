"""RFM groups, computed nightly by attribution, as a contact-list filter and a nurture audience."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.attribution import services
from api.attribution.models import RfmScore
from api.nurture.services import broadcasts_start_due
from tests.attribution import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored():
    """A champion (five recent orders), a hibernating sleeper, three older and one new customer, scored."""
    now = timezone.now()
    best, sleeper = f.rfm_customers(now)
    f.order(f.contact(), now - timedelta(days=3), revenue=4_000)  # a newcomer: in neither group below
    f.contact()  # never ordered: no RFM score, in no group
    services.rfm_recompute(now=now)
    return best, sleeper


def _ids(response):
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_the_contact_list_filters_by_rfm_group(staff_client, scored):
    best, sleeper = scored
    assert _ids(staff_client.get("/api/v1/contacts", {"rfm_group": "champions"})) == {best.pk}
    groups = dict(RfmScore.objects.values_list("contact_id", "group"))
    either = {pk for pk, group in groups.items() if group in ("champions", "hibernating")}
    assert {best.pk, sleeper.pk} <= either < set(groups)
    assert _ids(staff_client.get("/api/v1/contacts", {"rfm_group": ["champions", "hibernating"]})) == either
    exported = staff_client.get("/api/v1/contacts/export.csv", {"rfm_group": "hibernating"})
    assert exported.status_code == 200
    lines = b"".join(exported.streaming_content).decode("utf-8-sig").strip().splitlines()
    hibernating = [pk for pk, group in groups.items() if group == "hibernating"]
    assert len(lines) == 1 + len(hibernating)
    assert any(sleeper.name in line for line in lines)


def test_an_unknown_rfm_group_is_a_400(staff_client, scored):
    response = staff_client.get("/api/v1/contacts", {"rfm_group": "vip"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "rfm_group"
    refused = staff_client.post("/api/v1/nurture/sequences", {
        "name": "Relance", "audience": {"rfm_group": ["sleepy"]}, "steps": [{"delay": "0", "text": "x"}]},
        format="json")
    assert refused.status_code == 400


def test_a_broadcast_to_an_rfm_group_reaches_only_that_group(staff_client, scored):
    best, sleeper = scored
    response = staff_client.post("/api/v1/nurture/broadcasts", {
        "name": "On vous a manqué", "text": "Un coffret vous attend.", "audience": {"rfm_group": ["hibernating"]},
        "channels": ["telegram"], "send_at": timezone.now().isoformat()}, format="json")
    assert response.status_code == 201, response.json()
    broadcasts_start_due()
    detail = staff_client.get(f"/api/v1/nurture/broadcasts/{response.json()['id']}").json()
    hibernating = set(RfmScore.objects.filter(group="hibernating").values_list("contact_id", flat=True))
    assert detail["progress"]["total"] == len(hibernating)
    from api.nurture.models import OutboundMessage

    reached = set(OutboundMessage.objects.values_list("contact_id", flat=True))
    assert reached == hibernating
    assert sleeper.pk in reached
    assert best.pk not in reached
