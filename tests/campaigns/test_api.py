"""The campaigns API: campaigns and links, QR codes, the counting redirect, coupons, costs, touchpoints
and the fast capture."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.campaigns import conf
from api.campaigns.models import CampaignCost, LinkClick, PageAudienceDay, Touchpoint
from workers import tasks  # noqa: F401 - the named tasks must exist
from workers.celery import app as celery_app

pytestmark = pytest.mark.django_db


def _create(client, **overrides):
    body = {"name": "Coffrets de Noël", "code": "fb-noel25", "channel": "facebook_ads", "objective": "convert",
            "status": "active", "starts_on": "2025-12-01", "ends_on": "2025-12-31", "budget_xaf": 150000}
    body.update(overrides)
    return client.post("/api/v1/campaigns", body, format="json")


def test_staff_only(api_client):
    assert api_client.get("/api/v1/campaigns").status_code == 401
    assert api_client.post("/api/v1/captures", {}, format="json").status_code == 401


def test_create_get_change_and_list_a_campaign(staff_client, settings):
    settings.TELEGRAM_BOT_USERNAME = "ConfiotesBot"
    response = _create(staff_client)
    assert response.status_code == 201
    body = response.json()
    assert body["code"] == "FB-NOEL25"
    assert body["links"]["telegram"] == "https://t.me/ConfiotesBot?start=FB-NOEL25"
    pk = body["id"]
    assert staff_client.patch(f"/api/v1/campaigns/{pk}", {"status": "paused"}, format="json").json()["status"] == "paused"
    assert staff_client.get("/api/v1/campaigns", {"channel": "facebook_ads"}).json()["results"][0]["id"] == pk
    assert staff_client.get(f"/api/v1/campaigns/{pk}/links").json()["messenger"].endswith("?ref=FB-NOEL25")
    conflict = _create(staff_client, code="FB-NOEL25")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "code_taken"
    bad = _create(staff_client, code="no spaces allowed")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "code"
    assert staff_client.get("/api/v1/campaigns/999999").status_code == 404
    assert staff_client.delete(f"/api/v1/campaigns/{pk}").status_code == 204


def test_qr_codes_as_png_and_svg(staff_client):
    pk = _create(staff_client).json()["id"]
    png = staff_client.get(f"/api/v1/campaigns/{pk}/qr.png", {"link": "whatsapp", "scale": 4})
    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = staff_client.get(f"/api/v1/campaigns/{pk}/qr.svg", HTTP_ACCEPT="image/svg+xml")
    assert svg.status_code == 200
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    assert staff_client.get(f"/api/v1/campaigns/{pk}/qr.png", {"link": "fax"}).status_code == 400


def test_the_short_link_counts_the_click_and_redirects(staff_client, api_client, make_contact):
    pk = _create(staff_client, landing_url="https://confiotes.cm/noel").json()["id"]
    response = api_client.get("/r/fb-noel25", HTTP_USER_AGENT="Mozilla/5.0", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302
    assert response["Location"] == "https://confiotes.cm/noel"
    to_telegram = api_client.get("/r/FB-NOEL25", {"to": "telegram"})
    assert to_telegram["Location"].startswith("https://t.me/")
    click = LinkClick.objects.first()
    assert click.campaign_id == pk
    assert click.visitor_hash
    assert "10.1.2.3" not in click.visitor_hash
    assert staff_client.get(f"/api/v1/campaigns/{pk}").json()["click_count"] == 2
    contact = make_contact()
    api_client.get("/r/FB-NOEL25", {"c": contact.referral_code})
    assert Touchpoint.objects.get().contact == contact
    assert api_client.get("/r/NOPE").status_code == 404


def test_coupons(staff_client):
    pk = _create(staff_client).json()["id"]
    response = staff_client.post("/api/v1/coupons", {"campaign_id": pk, "code": "noel10"}, format="json")
    assert response.status_code == 201
    assert response.json()["code"] == "NOEL10"
    assert staff_client.post("/api/v1/coupons", {"campaign_id": pk, "code": "FB-NOEL25"},
                             format="json").status_code == 409
    coupon = response.json()["id"]
    assert staff_client.patch(f"/api/v1/coupons/{coupon}", {"active": False}, format="json").json()["active"] is False


def test_manual_costs_convert_and_synced_ones_are_read_only(staff_client, monkeypatch):
    monkeypatch.setattr(conf, "CURRENCY_RATES_XAF", {})
    pk = _create(staff_client).json()["id"]
    eur = staff_client.post("/api/v1/costs", {"campaign_id": pk, "day": "2025-12-03", "kind": "printing",
                                              "amount": "100.00", "currency": "EUR"}, format="json")
    assert eur.status_code == 201
    assert (eur.json()["amount_xaf"], Decimal(eur.json()["original_amount"])) == (65596, Decimal("100.00"))
    usd = staff_client.post("/api/v1/costs", {"campaign_id": pk, "day": "2025-12-03", "kind": "printing",
                                              "amount": "10", "currency": "USD"}, format="json")
    assert usd.status_code == 400
    assert usd.json()["code"] == "currency_rate_missing"
    missing = staff_client.post("/api/v1/costs", {"campaign_id": pk, "day": "2025-12-03", "kind": "staff"},
                                format="json")
    assert missing.status_code == 400
    cost = eur.json()["id"]
    assert staff_client.patch(f"/api/v1/costs/{cost}", {"amount_xaf": 70000}, format="json").json()["amount_xaf"] == 70000
    synced = CampaignCost.objects.create(campaign_id=pk, day="2025-12-04", kind="ads", source="synced",
                                         amount_xaf=5000, external_key="facebook_ads")
    assert staff_client.delete(f"/api/v1/costs/{synced.pk}").status_code == 409
    listed = staff_client.get("/api/v1/costs", {"campaign": pk, "source": "manual"}).json()["results"]
    assert [c["id"] for c in listed] == [cost]
    assert staff_client.delete(f"/api/v1/costs/{cost}").status_code == 204


def test_touchpoints_one_by_one_and_in_bulk(staff_client, make_contact):
    _create(staff_client, code="DEG-BONAMOU", channel="tasting")
    a, b = make_contact("+237699000001"), make_contact("+237699000002")
    one = staff_client.post("/api/v1/touchpoints", {"contact_id": a.pk, "channel": "in_person", "kind": "tasting_visit",
                                                    "campaign_code": "deg-bonamou", "provider_event_id": "sheet:1"},
                            format="json")
    assert one.status_code == 201
    assert one.json()["campaign_code"] == "DEG-BONAMOU"
    replay = staff_client.post("/api/v1/touchpoints", {"contact_id": a.pk, "channel": "in_person",
                                                       "kind": "tasting_visit", "provider_event_id": "sheet:1"},
                               format="json")
    assert replay.status_code == 200
    assert replay.json()["id"] == one.json()["id"]
    bulk = staff_client.post("/api/v1/touchpoints/bulk", {"items": [
        {"contact_id": a.pk, "channel": "in_person", "kind": "referral", "details": {"referred_by_id": b.pk}},
        {"contact_id": b.pk, "channel": "in_person", "kind": "fair_visit", "provider_event_id": "sheet:1"}]},
        format="json")
    assert bulk.status_code == 201
    assert bulk.json()["created"] == 1
    assert bulk.json()["duplicates"] == 1
    bad = staff_client.post("/api/v1/touchpoints/bulk", {"items": [
        {"contact_id": a.pk, "channel": "in_person", "kind": "fair_visit"},
        {"contact_id": a.pk, "channel": "pigeon", "kind": "fair_visit"}]}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "items[1].channel"
    assert Touchpoint.objects.count() == 2
    assert len(staff_client.get("/api/v1/touchpoints", {"contact": a.pk}).json()["results"]) == 2


def test_fast_capture_at_a_fair(staff_client):
    _create(staff_client, code="FOIRE-DLA", channel="fair")
    body = {"name": "Awa Ndjock", "phone": "699 12 34 56", "segment": "host", "kind": "fair_visit",
            "campaign_code": "FOIRE-DLA", "consent_channels": ["whatsapp"],
            "answers": [{"question": "Occasion ?", "answer": "Tontine"},
                        {"question": "Produit ?", "answer": "Gingembre"}]}
    response = staff_client.post("/api/v1/captures", body, format="json")
    assert response.status_code == 201
    assert response.json()["created"] is True
    assert response.json()["consents"] == ["whatsapp"]
    touch = Touchpoint.objects.get()
    assert touch.kind == "fair_visit"
    assert touch.campaign.code == "FOIRE-DLA"
    three = staff_client.post("/api/v1/captures", {**body, "answers": body["answers"] * 2}, format="json")
    assert three.status_code == 400
    unknown = staff_client.post("/api/v1/captures", {**body, "campaign_code": "NOPE"}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "campaign_code"
    bad_phone = staff_client.post("/api/v1/captures", {**body, "phone": "12"}, format="json")
    assert bad_phone.status_code == 400
    assert Touchpoint.objects.count() == 1


def test_staff_can_kick_the_facebook_syncs(staff_client, monkeypatch, django_capture_on_commit_callbacks):
    kicked = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args=None, expires=None: kicked.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/v1/facebook/sync")
    assert response.status_code == 202
    assert response.json() == {"queued": ["facebook_ads", "facebook_page"]}
    assert kicked == ["workers.tasks.campaigns.facebook_ads_sync", "workers.tasks.campaigns.facebook_page_sync"]
    assert set(kicked) <= set(celery_app.tasks)  # the kicks name tasks the worker knows


def test_page_audience_is_listed(staff_client):
    PageAudienceDay.objects.create(page_id="1", metric="page_follows", day="2026-11-24", value=2841)
    rows = staff_client.get("/api/v1/facebook/page-audience", {"metric": "page_follows"}).json()["results"]
    assert [(r["day"], r["value"]) for r in rows] == [("2026-11-24", 2841)]
