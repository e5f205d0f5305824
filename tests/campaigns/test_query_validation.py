"""Bad query parameters and out-of-range times are a 400 naming the field (regressions found by schemathesis)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from api.campaigns.models import Coupon, Touchpoint

pytestmark = pytest.mark.django_db


def _assert_field_error(response, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [e["field"] for e in body["errors"]] == [field]


def test_the_stateful_schemathesis_case_is_a_400_naming_the_campaign(staff_client):
    # campaign=-3.48e264 went through NumberFilter as a Decimal and overflowed the SQLite driver: a 500.
    response = staff_client.get(
        "/api/v1/touchpoints?kind=ad_referral&page_size=77182&campaign=-3.4893438682096786e%2B264"
        "&occurred_after=2026-11-25T22%3A49%3A45.916780%2B01%3A00&occurred_before=1417-09-09T21%3A37%3A58-00%3A41")
    _assert_field_error(response, "campaign")


@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/touchpoints", "campaign"), ("/api/v1/touchpoints", "contact"),
    ("/api/v1/costs", "campaign"), ("/api/v1/coupons", "campaign"),
])
@pytest.mark.parametrize("value", ["-3.4893438682096786e+264", "1e300", "99999999999999999999", "1.5", "0", "-4",
                                   "\u00b2", "abc"])
def test_an_id_filter_takes_only_a_positive_whole_number(staff_client, path, field, value):
    # "²".isdigit() is True but int("²") raises: GET /coupons?campaign=² was a 500.
    _assert_field_error(staff_client.get(path, {field: value}), field)


def test_id_filters_still_filter(staff_client, make_campaign, make_contact):
    one, two = make_campaign(), make_campaign()
    Coupon.objects.create(campaign=one, code="ONE10")
    Coupon.objects.create(campaign=two, code="TWO10")
    contact = make_contact()
    Touchpoint.objects.create(contact=contact, campaign=two, channel="in_person", kind="tasting_visit",
                              occurred_at=timezone.now())
    coupons = staff_client.get("/api/v1/coupons", {"campaign": str(one.pk)}).json()["results"]
    assert [c["code"] for c in coupons] == ["ONE10"]
    touches = staff_client.get("/api/v1/touchpoints", {"campaign": two.pk, "contact": contact.pk}).json()["results"]
    assert len(touches) == 1
    assert staff_client.get("/api/v1/touchpoints", {"campaign": one.pk}).json()["results"] == []


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00", "0001-01-01",
                                   "9999-12-31T23:59:59-05:00"])
@pytest.mark.parametrize("field", ["occurred_after", "occurred_before"])
def test_a_time_filter_outside_what_utc_can_hold_is_a_400(staff_client, field, value):
    _assert_field_error(staff_client.get("/api/v1/touchpoints", {field: value}), field)


@pytest.mark.parametrize("value", ["1417-09-09T21:37:58-00:41", "1900-01-01T00:00:00+23:59",
                                   "1969-12-31T23:59:59-23:59", "2026-11-25T10:00:00Z"])
def test_odd_but_valid_time_filters_are_accepted(staff_client, value):
    response = staff_client.get("/api/v1/touchpoints", {"occurred_after": value, "occurred_before": value})
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("occurred_at", ["0629-05-17T01:48:57Z", "1899-05-17T01:48:57Z", "0001-01-01T00:00:00Z",
                                         "2150-01-01T00:00:00Z"])
def test_a_touchpoint_centuries_away_is_refused(staff_client, make_contact, occurred_at):
    # Before 1912 Douala's offset is +00:38:48: the touchpoint was stored, then rendered as
    # "0629-05-17T02:27:45+00:38:48", which is not an RFC 3339 date-time (the documented format).
    contact = make_contact()
    touch = {"contact_id": contact.pk, "channel": "in_person", "kind": "tasting_visit", "occurred_at": occurred_at}
    _assert_field_error(staff_client.post("/api/v1/touchpoints", touch, format="json"), "occurred_at")
    _assert_field_error(staff_client.post("/api/v1/touchpoints/bulk", {"items": [touch]}, format="json"),
                        "items[0].occurred_at")
    capture = {"name": "Awa", "phone": "699123456", "segment": "host", "occurred_at": occurred_at}
    _assert_field_error(staff_client.post("/api/v1/captures", capture, format="json"), "occurred_at")
    assert not Touchpoint.objects.exists()


def test_id_filters_are_documented_as_bounded_integers():
    schema: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    for path, name in [("/api/v1/touchpoints", "campaign"), ("/api/v1/touchpoints", "contact"),
                       ("/api/v1/costs", "campaign"), ("/api/v1/coupons", "campaign")]:
        params = {p["name"]: p["schema"] for p in schema["paths"][path]["get"]["parameters"]}
        assert params[name]["type"] == "integer"
        assert params[name]["minimum"] == 1
