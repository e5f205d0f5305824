"""Services and selectors of campaigns: codes, money, touchpoints, windows, sample costs, capture."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.campaigns import conf, selectors, services
from api.campaigns.models import CampaignCost, Touchpoint
from api.common.errors import ApplicationError, ConflictError
from api.contacts.models import Consent
from api.orders.events import OrderEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("15000", "XAF", 15000),
    ("100.00", "EUR", 65596),  # 65595.7 rounds half up
    (Decimal("0.01"), "EUR", 7),
    ("12.34", "usd", 7410),  # 12.34 * 600.5 = 7410.17
])
def test_amounts_convert_to_whole_xaf_with_decimal(monkeypatch, amount, currency, expected):
    monkeypatch.setattr(conf, "CURRENCY_RATES_XAF", {"USD": Decimal("600.5")})
    assert services.to_xaf(amount, currency) == expected


def test_a_currency_without_a_rate_is_a_clear_error_not_zero(monkeypatch):
    monkeypatch.setattr(conf, "CURRENCY_RATES_XAF", {})
    with pytest.raises(ApplicationError) as info:
        services.to_xaf("10", "GBP")
    assert info.value.code == "currency_rate_missing"
    assert "CURRENCY_RATES_XAF" in info.value.message


def test_rates_are_parsed_from_the_environment_format():
    assert conf.parse_rates("USD=600.5, GBP=760") == {"USD": Decimal("600.5"), "GBP": Decimal("760")}


def test_codes_are_upper_case_and_unique_across_campaigns_and_coupons(make_campaign):
    campaign = make_campaign(code="fb-noel25")
    assert campaign.code == "FB-NOEL25"
    services.coupon_create(campaign=campaign, code="noel10")
    with pytest.raises(ConflictError):
        make_campaign(code="FB-NOEL25")
    with pytest.raises(ConflictError):
        make_campaign(code="NOEL10")
    assert selectors.campaign_get_by_code(" fb-noel25 ") == campaign
    assert selectors.campaign_resolve_code("Noel10") == campaign
    assert selectors.campaign_resolve_code("nothing") is None


def test_a_campaign_cannot_end_before_it_starts(make_campaign):
    with pytest.raises(ApplicationError) as info:
        make_campaign(starts_on=date(2026, 5, 1), ends_on=date(2026, 4, 1))
    assert info.value.errors[0]["field"] == "ends_on"


def test_links_carry_the_code(make_campaign, settings):
    settings.TELEGRAM_BOT_USERNAME, settings.META_PAGE_USERNAME = "ConfiotesBot", "confiotes"
    settings.WHATSAPP_BUSINESS_NUMBER, settings.PUBLIC_BASE_URL = "+237 690 00 00 00", "https://confiotes.cm"
    links = selectors.campaign_links(make_campaign(code="DEG-BASTOS"))
    assert links == {
        "redirect": "https://confiotes.cm/r/DEG-BASTOS",
        "telegram": "https://t.me/ConfiotesBot?start=DEG-BASTOS",
        "messenger": "https://m.me/confiotes?ref=DEG-BASTOS",
        "whatsapp": "https://wa.me/237690000000?text=Bonjour%20Confiotes%20%21%20Code%20DEG-BASTOS",
    }
    assert selectors.campaign_find_code_in_text("Bonjour Confiotes ! code deg-bastos") is not None


def test_a_replayed_provider_event_adds_nothing(make_contact, make_campaign):
    contact, campaign = make_contact(), make_campaign()
    first = services.touchpoint_record(contact_id=contact.pk, channel="telegram", kind="bot_start",
                                       campaign_code=campaign.code.lower(), provider_event_id="telegram:1001")
    again = services.touchpoint_record(contact_id=contact.pk, channel="telegram", kind="bot_start",
                                       campaign_code=campaign.code, provider_event_id="telegram:1001")
    assert first is not None
    assert first.campaign == campaign
    assert again is None
    assert Touchpoint.objects.count() == 1


def test_an_unknown_code_is_kept_not_refused(make_contact):
    touchpoint = services.touchpoint_record(contact_id=make_contact().pk, channel="telegram", kind="bot_start",
                                            campaign_code="TYPO")
    assert touchpoint.campaign is None
    assert touchpoint.details == {"unknown_code": "TYPO"}


def test_bad_kind_or_contact_is_refused_with_its_field(make_contact):
    contact = make_contact()
    with pytest.raises(ApplicationError) as info:
        services.touchpoint_record(contact_id=contact.pk, channel="telegram", kind="visit")
    assert info.value.errors[0]["field"] == "kind"
    with pytest.raises(ApplicationError) as info:
        services.touchpoints_record_bulk(items=[
            {"contact_id": contact.pk, "channel": "in_person", "kind": "fair_visit"},
            {"contact_id": 999999, "channel": "in_person", "kind": "fair_visit"}])
    assert info.value.errors[0]["field"] == "items[1].contact_id"
    assert Touchpoint.objects.count() == 0  # all or nothing


def test_messaging_windows(make_contact):
    contact = make_contact()
    now = timezone.now()
    assert selectors.messaging_window_until(contact_id=contact.pk, channel="messenger") is None
    services.touchpoint_record(contact_id=contact.pk, channel="messenger", kind="inbound_message",
                               occurred_at=now - timedelta(hours=2))
    assert selectors.messaging_window_until(contact_id=contact.pk, channel="messenger") == now + timedelta(hours=22)
    services.touchpoint_record(contact_id=contact.pk, channel="messenger", kind="ad_referral",
                               occurred_at=now - timedelta(days=3), details={"ctm_ad": True})
    assert selectors.messaging_window_until(contact_id=contact.pk, channel="messenger") == now + timedelta(days=4)
    services.touchpoint_record(contact_id=contact.pk, channel="whatsapp", kind="inbound_message",
                               occurred_at=now - timedelta(hours=25))
    assert selectors.messaging_window_until(contact_id=contact.pk, channel="whatsapp") is None


def test_touchpoints_for_contact_stop_at_until(make_contact):
    contact = make_contact()
    now = timezone.now()
    for hours in (5, 3, 1):
        services.touchpoint_record(contact_id=contact.pk, channel="whatsapp", kind="inbound_message",
                                   occurred_at=now - timedelta(hours=hours))
    touches = selectors.touchpoints_for_contact(contact.pk, now - timedelta(hours=2))
    assert [t.occurred_at for t in touches] == [now - timedelta(hours=5), now - timedelta(hours=3)]


def test_sample_orders_cost_once_per_order(make_campaign):
    campaign = make_campaign(code="DEG-BONAMOU", channel="tasting")
    at = timezone.now()
    for _ in range(2):
        services.sample_cost_record(order_id=7, is_sample=True, sample_cost_xaf=4500, occurred_at=at,
                                    campaign_code="deg-bonamou")
    cost = CampaignCost.objects.get()
    assert (cost.campaign, cost.kind, cost.source, cost.amount_xaf) == (campaign, "samples", "synced", 4500)
    services.sample_cost_record(order_id=7, is_sample=True, sample_cost_xaf=5000, occurred_at=at)
    assert CampaignCost.objects.get().amount_xaf == 5000
    services.sample_cost_record(order_id=8, is_sample=True, sample_cost_xaf=1000, occurred_at=at)
    assert CampaignCost.objects.get(external_key="order:8").campaign.code == "SAMPLES"


def test_the_order_listener_records_sample_costs(make_campaign):
    make_campaign(code="FOIRE-DLA", channel="fair")
    event = OrderEvent(kind="created", order_id=3, order_number="CF-2026-0003", contact_id=1, status="pending",
                       previous_status=None, occurred_at=timezone.now(), total_xaf=0, is_sample=True,
                       sample_cost_xaf=3000, campaign_code="FOIRE-DLA")
    services.order_event_listener(event)
    services.order_event_listener(event)
    assert CampaignCost.objects.get().amount_xaf == 3000


def test_capture_makes_contact_consent_and_touchpoint(make_campaign):
    campaign = make_campaign(code="FOIRE-DLA", channel="fair")
    result = services.capture_submit(
        name="Awa Ndjock", phone="699 12 34 56", segment="host", kind="fair_visit", campaign_code="foire-dla",
        answers=[{"question": "Occasion ?", "answer": "Tontine"}, {"question": "Produit ?", "answer": "Gingembre"}],
        consent_channels=["whatsapp", "sms"], client_event_id="abc-1")
    contact = result.contact
    contact.refresh_from_db()
    assert result.created
    assert contact.phone == "+237699123456"
    assert contact.segment == "host"
    assert contact.acquisition_channel == "fair"
    assert set(Consent.objects.filter(contact=contact).values_list("channel", flat=True)) == {"whatsapp", "sms"}
    assert result.touchpoint.campaign == campaign
    assert result.touchpoint.details["answers"][0]["answer"] == "Tontine"
    again = services.capture_submit(name="Awa Ndjock", phone="+237699123456", segment="host", kind="fair_visit",
                                    campaign_code="FOIRE-DLA", client_event_id="abc-1")
    assert not again.created
    assert again.touchpoint is None
    assert Touchpoint.objects.count() == 1


def test_touchpoints_show_on_the_timeline(make_contact, make_campaign):
    contact, campaign = make_contact(), make_campaign(code="TG-BOT", channel="telegram")
    services.touchpoint_record(contact_id=contact.pk, channel="telegram", kind="bot_start", campaign_id=campaign.pk)
    events = selectors.touchpoint_timeline(contact.pk, None, 10)
    assert len(events) == 1
    assert "TG-BOT" in events[0].summary
