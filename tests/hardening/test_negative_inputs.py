"""Invalid data is refused, never read as something else: a 400 in the common shape that names the field, and
nothing changes. These are the inputs schemathesis' negative pass (``bin/schemathesis``, pass 4, which gates
on ``negative_data_rejection``) found accepted:

* boolean query parameters that ignored a bad value (``?opted_out=null`` listed everyone);
* unknown choices (``/complaints?state=AAA`` listed every case), a missing required ``channel``;
* integers spelled in ways only ``int()`` reads (``٣``, `` 5``, ``5.0``), and any single-valued parameter
  given twice (the last value won, an empty one meaning "no filter");
* JSON numbers for text fields, ``0`` / ``"true"`` for booleans, strings and huge numbers for integers;
* a non-URI ``image_url`` of a sequence step;
* a chunked body (no ``Content-Length``), which Django read as empty.
"""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from api.campaigns.models import Campaign, Coupon, LinkClick
from api.campaigns.services import campaign_create, coupon_create
from api.contacts.models import Contact
from api.contacts.services import contact_opt_out, contact_upsert
from api.nurture.models import Sequence
from api.orders.models import Complaint, Product
from api.orders.services import complaint_create, product_create

pytestmark = pytest.mark.django_db


def _refused(response, field: str, status: int = 400) -> dict:
    """The answer is ``status`` in the common shape, and one of its errors is about ``field``."""
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) >= {"code", "message", "errors"}
    assert field in [error["field"] for error in body["errors"]], body
    return body


@pytest.fixture
def contacts(db) -> tuple[Contact, Contact]:
    """Two contacts, one of whom said STOP."""
    stays = contact_upsert(phone="+237690112233", name="Mireille Ngo").contact
    left = contact_upsert(phone="+237690445566", name="Serge Eto").contact
    contact_opt_out(contact_id=left.pk, how="a répondu STOP")
    return stays, left


# --- query parameters ------------------------------------------------------------------------------------------------

BOOLEAN_PARAMETERS = [
    ("/api/v1/contacts", "opted_out"),
    ("/api/v1/contacts/export.csv", "opted_out"),
    ("/api/v1/orders", "is_sample"),
    ("/api/v1/products", "active"),
    ("/api/v1/facebook/campaigns", "mapped"),
]


@pytest.mark.parametrize(("path", "name"), BOOLEAN_PARAMETERS)
@pytest.mark.parametrize("value", ["null", "yes", "2", "vrai", "true "])
def test_a_boolean_parameter_refuses_anything_but_true_or_false(staff_client, path, name, value):
    body = _refused(staff_client.get(path, {name: value}), name)
    assert "true or false" in body["message"]


@pytest.mark.parametrize(("path", "name"), BOOLEAN_PARAMETERS)
def test_a_parameter_given_twice_is_refused(staff_client, path, name):
    _refused(staff_client.get(f"{path}?{name}=true&{name}="), name)


def test_a_boolean_filter_still_filters(staff_client, contacts):
    stays, left = contacts
    for spelling, wanted in (("true", left), ("1", left), ("True", left), ("false", stays), ("0", stays)):
        listed = staff_client.get("/api/v1/contacts", {"opted_out": spelling}).json()["results"]
        assert [row["id"] for row in listed] == [wanted.pk], spelling
    assert len(staff_client.get("/api/v1/contacts", {"opted_out": ""}).json()["results"]) == 2  # empty: no filter


def test_products_filter_on_active_and_refuse_a_bad_value(staff_client):
    product_create(sku="SIR-GIN-50", name="Sirop de gingembre 50 cl", price_xaf=3500)
    product_create(sku="SIR-BIS-50", name="Sirop de bissap 50 cl", price_xaf=3500, active=False)
    inactive = staff_client.get("/api/v1/products", {"active": "false"}).json()["results"]
    assert [row["sku"] for row in inactive] == ["SIR-BIS-50"]
    _refused(staff_client.get("/api/v1/products", {"active": "yes"}), "active")


def test_an_unknown_complaint_state_is_refused_with_the_allowed_values(staff_client, contacts):
    complaint_create(text="Le sirop est arrivé tiède.", contact_id=contacts[0].pk)
    body = _refused(staff_client.get("/api/v1/complaints", {"state": "AAA"}), "state")
    assert "open, in_progress, resolved, closed" in body["message"]
    assert len(staff_client.get("/api/v1/complaints", {"state": "open"}).json()["results"]) == 1
    assert staff_client.get("/api/v1/complaints", {"state": "closed"}).json()["results"] == []


def test_an_unknown_choice_in_any_filter_set_lists_the_allowed_values(staff_client):
    body = _refused(staff_client.get("/api/v1/campaigns", {"status": "AAA"}), "status")
    assert "draft, active, paused, ended" in body["message"]
    _refused(staff_client.get("/api/v1/campaigns?status=active&status=draft"), "status")


def test_can_receive_needs_a_known_channel(staff_client, contacts):
    url = f"/api/v1/contacts/{contacts[0].pk}/can-receive"
    body = _refused(staff_client.get(url), "channel")
    assert "whatsapp" in body["message"]
    _refused(staff_client.get(url, {"channel": ""}), "channel")
    _refused(staff_client.get(url, {"channel": "fax"}), "channel")
    assert staff_client.get(url, {"channel": "whatsapp"}).json() == {"channel": "whatsapp", "allowed": False,
                                                                     "reason": "no_consent"}


def test_a_tracked_link_with_an_unknown_target_is_refused_and_not_counted(api_client):
    campaign_create(name="Noël", code="NOEL26", channel="facebook_ads")
    _refused(api_client.get("/r/NOEL26", {"to": "fax"}), "to")
    assert not LinkClick.objects.exists()
    assert api_client.get("/r/NOEL26", {"to": "whatsapp"}).status_code == 302
    assert LinkClick.objects.count() == 1


def _report_integer_parameters() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(path, parameter["name"])
            for path, operations in schema["paths"].items() if path.startswith("/api/v1/reports")
            for parameter in operations.get("get", {}).get("parameters", [])
            if parameter["in"] == "query" and parameter.get("schema", {}).get("type") == "integer"]


REPORT_INTEGERS = _report_integer_parameters()


def test_the_reports_have_integer_parameters():
    assert ("/api/v1/reports/funnel", "weeks") in REPORT_INTEGERS
    assert len(REPORT_INTEGERS) >= 5


@pytest.mark.parametrize(("path", "name"), REPORT_INTEGERS)
@pytest.mark.parametrize("value", ["junk", "\u0663", " 5", "5.0", "true"])
def test_every_integer_of_every_report_refuses_what_is_not_a_whole_number(staff_client, path, name, value):
    _refused(staff_client.get(path, {name: value}), name)


def test_a_report_integer_given_twice_is_refused(staff_client):
    _refused(staff_client.get("/api/v1/reports/funnel?weeks=5&weeks="), "weeks")
    assert len(staff_client.get("/api/v1/reports/funnel", {"weeks": "3"}).json()["weeks"]) == 3


# --- request bodies --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 12.5, True, ["Noël"], {"fr": "Noël"}])
def test_a_number_or_anything_else_for_a_text_field_is_refused(staff_client, value):
    body = _refused(staff_client.post("/api/v1/campaigns", {"name": "Noël", "code": "NOEL26", "channel": "facebook_ads",
                                                            "notes": value}, format="json"), "notes")
    assert body["errors"][0]["message"] == "Expected a string." or isinstance(value, list | dict)
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("path", "payload", "field"), [
    ("/api/v1/products", {"sku": 0, "name": "Sirop", "price_xaf": 3500}, "sku"),
    ("/api/v1/partners", {"name": 0}, "name"),
    ("/api/v1/nurture/broadcasts", {"name": "Noël", "text": 0, "channels": ["telegram"]}, "text"),
    ("/api/v1/nurture/sequences", {"name": "Intro", "steps": [{"delay": "0", "text": 0}]}, "steps[0].text"),
    ("/api/v1/complaints", {"text": 0}, "text"),
])
def test_text_fields_of_every_app_take_only_strings(staff_client, path, payload, field):
    before = (Product.objects.count(), Sequence.objects.count(), Complaint.objects.count())
    body = _refused(staff_client.post(path, payload, format="json"), field)
    assert "Expected a string." in [error["message"] for error in body["errors"] if error["field"] == field]
    assert (Product.objects.count(), Sequence.objects.count(), Complaint.objects.count()) == before


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_an_attribution_run_takes_only_a_json_boolean(staff_client, value):
    from api.attribution.models import AttributionRun

    _refused(staff_client.post("/api/v1/attribution/runs", {"full": value}, format="json"), "full")
    assert not AttributionRun.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("stop_on_order", 0), ("is_active", "false")])
def test_booleans_of_other_apps_take_only_json_booleans(staff_client, field, value):
    _refused(staff_client.post("/api/v1/nurture/sequences", {"name": "Intro", field: value,
                                                             "steps": [{"delay": "0", "text": "Bonjour"}]},
                               format="json"), field)
    assert not Sequence.objects.exists()


@pytest.fixture
def coupon(db) -> Coupon:
    campaign = campaign_create(name="Noël", code="NOEL26", channel="facebook_ads")
    return coupon_create(campaign=campaign, code="NOEL10", value=10, max_uses=100)


@pytest.mark.parametrize("value", [2**31, 10**30, True, "5", 1.5, -1])
def test_a_coupon_use_limit_must_fit_its_column(staff_client, coupon, value):
    _refused(staff_client.patch(f"/api/v1/coupons/{coupon.pk}", {"max_uses": value}, format="json"), "max_uses")
    coupon.refresh_from_db()
    assert coupon.max_uses == 100


def test_a_whole_number_written_with_a_zero_fraction_is_still_a_whole_number(staff_client, coupon):
    response = staff_client.patch(f"/api/v1/coupons/{coupon.pk}", {"max_uses": 250.0}, format="json")
    assert response.status_code == 200, response.json()
    coupon.refresh_from_db()
    assert coupon.max_uses == 250


@pytest.mark.parametrize("url", ["abc", "javascript:alert(1)", "ftp://images.confiotes.cm/noel.png",
                                 "https://images.confiotes.cm/no\u00ebl.png", "//images.confiotes.cm/noel.png",
                                 "https://images.confiotes.cm/a b.png"])
def test_a_step_image_must_be_an_http_uri(staff_client, url):
    _refused(staff_client.post("/api/v1/nurture/sequences", {"name": "Intro", "steps": [
        {"delay": "0", "text": "Bonjour", "image_url": url}]}, format="json"), "steps[0].image_url")
    assert not Sequence.objects.exists()
    response = staff_client.post("/api/v1/nurture/sequences", {"name": "Intro", "steps": [
        {"delay": "0", "text": "Bonjour", "image_url": "https://images.confiotes.cm/no%C3%ABl.png"}]}, format="json")
    assert response.status_code == 201, response.json()


def test_a_step_added_later_is_checked_the_same_way(staff_client):
    created = staff_client.post("/api/v1/nurture/sequences", {"name": "Intro", "steps": [
        {"delay": "0", "text": "Bonjour"}]}, format="json").json()
    _refused(staff_client.post(f"/api/v1/nurture/sequences/{created['id']}/steps",
                               {"delay": "0", "text": "Suite", "image_url": "not a uri"}, format="json"), "image_url")
    assert len(staff_client.get(f"/api/v1/nurture/sequences/{created['id']}").json()["steps"]) == 1


def test_a_chunked_body_is_refused_not_read_as_empty(staff_client):
    response = staff_client.post("/api/v1/contacts", data=b'{"name": "Mireille Ngo", "phone": "+237690112233"}',
                                 content_type="application/json", HTTP_TRANSFER_ENCODING="chunked",
                                 CONTENT_LENGTH="")
    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert not Contact.objects.exists()


# --- the one place these rules live ------------------------------------------------------------------------------------


def test_every_filter_set_of_every_list_is_the_strict_one():
    from django.urls import get_resolver

    from api.common.filters import BooleanFilter, FilterSet

    def views(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from views(pattern.url_patterns)
            else:
                yield getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)

    filter_sets = {view.filterset_class for view in views(get_resolver().url_patterns)
                   if getattr(view, "filterset_class", None)}
    assert len(filter_sets) >= 8
    for filter_set in filter_sets:
        assert issubclass(filter_set, FilterSet), filter_set
        for name, declared in filter_set.base_filters.items():
            if type(declared).__name__ == "BooleanFilter":
                assert isinstance(declared, BooleanFilter), f"{filter_set.__name__}.{name}"


def test_the_strict_types_hold_for_a_serializer_written_anywhere():
    from rest_framework import serializers

    class Note(serializers.Serializer):
        text = serializers.CharField()
        pinned = serializers.BooleanField(default=False)
        stars = serializers.IntegerField(required=False)

    for data, field in [({"text": 5}, "text"), ({"text": "x", "pinned": "true"}, "pinned"),
                        ({"text": "x", "stars": "5"}, "stars"), ({"text": "x", "stars": 2**63}, "stars")]:
        note = Note(data=data)
        assert not note.is_valid()
        assert list(note.errors) == [field]
    note = Note(data={"text": "x", "pinned": True, "stars": 5})
    assert note.is_valid()
    assert note.validated_data == {"text": "x", "pinned": True, "stars": 5}



def test_an_amount_and_a_delay_are_strings_as_the_spec_says(staff_client):
    from api.campaigns.models import CampaignCost

    campaign = campaign_create(name="Noël", code="NOEL26", channel="facebook_ads")
    body = {"campaign_id": campaign.pk, "day": "2026-11-20", "kind": "printing", "amount": 100.5, "currency": "EUR"}
    _refused(staff_client.post("/api/v1/costs", body, format="json"), "amount")
    assert not CampaignCost.objects.exists()
    _refused(staff_client.post("/api/v1/nurture/sequences", {"name": "Intro", "steps": [{"delay": 0, "text": "x"}]},
                               format="json"), "steps[0].delay")
    assert not Sequence.objects.exists()
