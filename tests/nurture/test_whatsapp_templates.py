"""WhatsApp message templates: read from the business account, chosen by authors, sent outside the
24-hour window with their variables filled, and Meta's rules for marketing templates (fake Cloud API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from api.campaigns.services import touchpoint_record
from api.contacts.services import contact_upsert
from api.nurture.models import OutboundMessage, WhatsAppTemplate
from api.nurture.services import (
    broadcast_create,
    broadcast_start,
    order_event_handle,
    outbound_enqueue,
    whatsapp_templates_sync,
)
from api.nurture.services.templates import outbound_enqueue_with_template, whatsapp_template_by_name
from api.orders.enums import OrderEventKind
from api.orders.events import OrderEvent
from tests.fakes.whatsapp_server import template
from tests.nurture.conftest import dispatch
from tests.nurture.meta_helpers import NoLimits

pytestmark = pytest.mark.django_db

RELANCE = "Bonjour {{1}}, nos coffrets de Noël sont arrivés. Votre code parrain : {{2}}"
TEMPLATES = [
    template("relance_coffret", RELANCE),
    template("suivi_commande", "Bonjour {{1}}, votre commande {{2}} est {{3}} ({{4}}).", category="UTILITY"),
    template("promo_pause", "Promo {{1}}", status="PAUSED"),
    template("promo_refusee", "Promo {{1}}", status="REJECTED"),
    template("bienvenue", "Bienvenue chez Confiotes {{1}} !", language="en"),
]


@pytest.fixture
def wa(whatsapp, settings) -> Any:
    """The fake Cloud API with the account's templates, its business account id in the settings."""
    whatsapp.templates = [dict(t) for t in TEMPLATES]
    whatsapp.page_size_max = 2  # the sync must follow Graph's cursor pages
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp.waba_id
    return whatsapp


def _wa_contact(number: str, first_name: str = "Awa", *, consent: bool = True, in_window: bool = False) -> Any:
    contact = contact_upsert(whatsapp=number, first_name=first_name, consents=["whatsapp"] if consent else None,
                             consent_how="test").contact
    if in_window:  # the person wrote an hour ago: the 24-hour window is open
        touchpoint_record(contact_id=contact.pk, channel="whatsapp", kind="inbound_message",
                          occurred_at=timezone.now() - timedelta(hours=1), provider_event_id=f"in:{number}")
    return contact


def _template(name: str) -> WhatsAppTemplate:
    return WhatsAppTemplate.objects.get(name=name)


def _send() -> None:
    dispatch(limiter=NoLimits())


# --- reading the templates ---------------------------------------------------------------------------------


def test_staff_sync_the_templates_and_list_them(wa, staff_client):
    response = staff_client.post("/api/v1/nurture/whatsapp-templates/sync")
    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 5, "updated": 0, "deleted": 0, "read": 5}
    listed = staff_client.get("/api/v1/nurture/whatsapp-templates").json()["results"]
    assert [(t["name"], t["language"], t["category"], t["status"], t["body_parameter_count"]) for t in listed] == [
        ("bienvenue", "en", "MARKETING", "APPROVED", 1),
        ("promo_pause", "fr", "MARKETING", "PAUSED", 1),
        ("promo_refusee", "fr", "MARKETING", "REJECTED", 1),
        ("relance_coffret", "fr", "MARKETING", "APPROVED", 2),
        ("suivi_commande", "fr", "UTILITY", "APPROVED", 4),
    ]

    # Meta pauses one template and the business deletes another: the next sync says so.
    wa.set_template_status("relance_coffret", "PAUSED")
    wa.templates = [t for t in wa.templates if t["name"] != "bienvenue"]
    assert staff_client.post("/api/v1/nurture/whatsapp-templates/sync").json() == {
        "created": 0, "updated": 1, "deleted": 1, "read": 4}
    assert _template("relance_coffret").status == "PAUSED"
    assert _template("bienvenue").status == "DELETED"
    # The scheduled run is the same sync (idempotent).
    assert whatsapp_templates_sync().updated == 0


def test_sync_without_the_business_account_is_a_409_and_changes_nothing(wa, staff_client, settings):
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    response = staff_client.post("/api/v1/nurture/whatsapp-templates/sync")
    assert response.status_code == 409
    assert response.json()["code"] == "whatsapp_not_configured"
    assert not WhatsAppTemplate.objects.exists()


def test_a_refused_token_is_a_502_that_does_not_leak_it_and_keeps_the_last_sync(wa, staff_client, settings):
    whatsapp_templates_sync()
    settings.WHATSAPP_ACCESS_TOKEN = "wrong-secret-token-123"
    response = staff_client.post("/api/v1/nurture/whatsapp-templates/sync")
    assert response.status_code == 502
    assert "wrong-secret-token-123" not in response.content.decode()
    assert WhatsAppTemplate.objects.filter(status="APPROVED").count() == 3


def test_only_staff_may_sync(wa, api_client):
    assert api_client.post("/api/v1/nurture/whatsapp-templates/sync").status_code in (401, 403)


# --- authors choose a template ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), [("promo_pause", "not_approved"), ("promo_refusee", "not_approved"),
                                            ("suivi_commande", "too_many_parameters")])
def test_a_broadcast_may_only_name_an_approved_template_it_can_fill(wa, staff_client, name, code):
    whatsapp_templates_sync()
    body = {"name": "Noël", "text": "Bonjour {first_name}", "channels": ["whatsapp"],
            "send_at": "2026-12-20T10:00:00+01:00", "whatsapp_template": _template(name).pk}
    response = staff_client.post("/api/v1/nurture/broadcasts", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "whatsapp_template"
    assert response.json()["errors"][0]["code"] == code
    missing = staff_client.post("/api/v1/nurture/broadcasts", {**body, "whatsapp_template": 999999}, format="json")
    assert missing.status_code == 400


def test_sequence_steps_take_an_approved_template_in_any_language(wa, staff_client):
    whatsapp_templates_sync()
    created = staff_client.post("/api/v1/nurture/sequences", {
        "name": "Dégustation", "channels": ["whatsapp"],
        "steps": [{"delay": "01:00:00", "text": "Merci {first_name} !",
                   "whatsapp_template": _template("bienvenue").pk}]}, format="json")
    assert created.status_code == 201, created.json()
    sequence = created.json()
    assert sequence["steps"][0]["whatsapp_template"] == _template("bienvenue").pk
    bad = staff_client.put(f"/api/v1/nurture/sequences/{sequence['id']}/steps/1", {
        "delay": "01:00:00", "text": "Merci", "whatsapp_template": _template("promo_pause").pk}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "whatsapp_template"
    added = staff_client.post(f"/api/v1/nurture/sequences/{sequence['id']}/steps", {
        "delay": "1 00:00:00", "text": "Votre code : {referral_code}",
        "whatsapp_template": _template("relance_coffret").pk}, format="json")
    assert added.status_code == 201
    assert added.json()["steps"][1]["whatsapp_template"] == _template("relance_coffret").pk


# --- sending outside the window ---------------------------------------------------------------------------


def test_a_broadcast_goes_out_as_the_approved_template_outside_the_window_and_as_text_inside(wa):
    whatsapp_templates_sync()
    away = _wa_contact("+237677000001", "Awa")
    talking = _wa_contact("+237677000002", "Brice", in_window=True)
    broadcast = broadcast_create(name="Noël", text="{first_name}, nos coffrets de Noël sont arrivés 🎁",
                                 send_at=timezone.now(), channels=["whatsapp"],
                                 whatsapp_template=_template("relance_coffret").pk)
    assert broadcast_start(broadcast_id=broadcast.pk) == 2
    _send()

    to_away = wa.messages_to(away.whatsapp)
    assert [(m.type, m.template_name, m.body_parameters) for m in to_away] == [
        ("template", "relance_coffret", ["Awa", away.referral_code])]
    assert [(m.type, m.text) for m in wa.messages_to(talking.whatsapp)] == [
        ("text", "Brice, nos coffrets de Noël sont arrivés 🎁")]
    rows = {m.contact_id: m for m in OutboundMessage.objects.filter(broadcast=broadcast)}
    assert rows[away.pk].state == "sent"
    assert (rows[away.pk].template_name, rows[away.pk].template_parameters) == (
        "relance_coffret", ["Awa", away.referral_code])
    assert (rows[talking.pk].state, rows[talking.pk].template_name) == ("sent", "")  # it went as text


@pytest.mark.parametrize(("meta_status", "reason"), [("PAUSED", "template_paused"),
                                                     ("REJECTED", "template_rejected"),
                                                     ("DISABLED", "template_rejected"),
                                                     ("PENDING", "template_pending"),
                                                     (None, "template_missing")])
def test_a_template_no_longer_approved_skips_with_its_reason(wa, meta_status, reason):
    whatsapp_templates_sync()
    contact = _wa_contact("+237677000003")
    broadcast = broadcast_create(name="Noël", text="Bonjour", send_at=timezone.now(), channels=["whatsapp"],
                                 whatsapp_template=_template("relance_coffret").pk)
    broadcast_start(broadcast_id=broadcast.pk)
    if meta_status:  # Meta changed it after the author chose it; the hourly sync saw it
        wa.set_template_status("relance_coffret", meta_status)
    else:
        wa.templates = [t for t in wa.templates if t["name"] != "relance_coffret"]
    whatsapp_templates_sync()
    _send()
    message = OutboundMessage.objects.get(contact=contact)
    assert (message.state, message.reason) == ("skipped", reason)
    assert wa.messages == []


def test_without_a_template_outside_the_window_it_is_still_template_required(wa):
    contact = _wa_contact("+237677000004")
    message = outbound_enqueue(idempotency_key="t:no-template", channel="whatsapp", recipient=contact.whatsapp,
                               text="Bonjour", contact_id=contact.pk)
    _send()
    message.refresh_from_db()
    assert (message.state, message.reason) == ("skipped", "template_required")


def _templated(contact: Any, key: str, name: str = "relance_coffret", **kwargs: Any) -> OutboundMessage:
    return outbound_enqueue_with_template(template=_template(name), parameters=[contact.first_name, "CODE"],
                                          idempotency_key=key, channel="whatsapp", recipient=contact.whatsapp,
                                          text="Bonjour", contact_id=contact.pk, **kwargs)


def test_meta_131049_is_recorded_and_never_retried(wa):
    whatsapp_templates_sync()
    contact = _wa_contact("+237677000005")
    message = _templated(contact, "t:131049")
    wa.fail_next_send(contact.whatsapp, 131049)
    _send()
    message.refresh_from_db()
    assert (message.state, message.reason, message.failure_code, message.attempts) == (
        "failed", "meta_marketing_limit", "131049", 1)
    _send()  # a later run does not try again
    message.refresh_from_db()
    assert message.attempts == 1
    assert wa.messages == []


def test_meta_131047_on_a_text_the_window_had_closed_ends_window_closed(wa):
    wa.enforce_window = True  # Meta has no message from the person in the last 24 hours...
    contact = _wa_contact("+237677000006", in_window=True)  # ...but our records say the window is open
    message = outbound_enqueue(idempotency_key="t:131047", channel="whatsapp", recipient=contact.whatsapp,
                               text="Bonjour", contact_id=contact.pk)
    _send()
    message.refresh_from_db()
    assert (message.state, message.reason, message.failure_code) == ("failed", "window_closed", "131047")


def test_a_marketing_template_needs_the_whatsapp_opt_in_even_for_a_service_reply(wa):
    whatsapp_templates_sync()
    contact = _wa_contact("+237677000007", consent=False)
    reply = _templated(contact, "t:service", category=OutboundMessage.Category.SERVICE)
    _send()
    reply.refresh_from_db()
    assert (reply.state, reply.reason) == ("skipped", "no_consent")


def test_at_most_n_marketing_templates_per_person_in_seven_days(wa, settings):
    settings.NURTURE_WHATSAPP_MARKETING_PER_WEEK = 1
    whatsapp_templates_sync()
    contact = _wa_contact("+237677000008")
    first = _templated(contact, "t:m1")
    _send()
    second = _templated(contact, "t:m2")
    utility = outbound_enqueue_with_template(
        template=_template("suivi_commande"), parameters=["Awa", "CMD-1", "livrée", "5 000 FCFA"],
        idempotency_key="t:u1", channel="whatsapp", recipient=contact.whatsapp, text="Votre commande",
        contact_id=contact.pk, category=OutboundMessage.Category.SERVICE)
    _send()
    first.refresh_from_db()
    second.refresh_from_db()
    utility.refresh_from_db()
    assert first.state == "sent"
    assert (second.state, second.reason) == ("skipped", "marketing_limit")
    assert utility.state == "sent"  # a utility template is not marketing


def test_an_order_message_fills_the_order_variables_from_the_template_named_in_settings(wa, settings):
    settings.NURTURE_WHATSAPP_TEMPLATE_REFERRAL_THANKS = "suivi_commande"
    whatsapp_templates_sync()
    assert whatsapp_template_by_name("suivi_commande").body_parameter_count == 4
    contact = _wa_contact("+237677000009", "Carine")
    order_event_handle(OrderEvent(kind=OrderEventKind.FEEDBACK, order_id=77, order_number="CF-2026-0077",
                                  contact_id=contact.pk, status="delivered", previous_status="delivered",
                                  occurred_at=timezone.now(), total_xaf=12500, rating=5))
    message = OutboundMessage.objects.get(idempotency_key="referral:77")
    assert (message.template_name, message.template_language) == ("suivi_commande", "fr")
    assert message.template_parameters == ["Carine", "CF-2026-0077", "livrée", "12\u202f500 FCFA"]
    _send()
    sent = wa.messages_to(contact.whatsapp)
    assert [(m.template_name, m.body_parameters) for m in sent] == [
        ("suivi_commande", ["Carine", "CF-2026-0077", "livrée", "12\u202f500 FCFA"])]


def test_the_hourly_sync_is_a_scheduled_task_that_waits_for_whatsapp_to_be_configured(wa, settings):
    import workers.tasks  # noqa: F401 - registers the tasks as a worker does
    from workers.celery import app
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks.nurture import whatsapp_templates_sync_task

    for entry in ("nurture-whatsapp-templates-sync", "nurture-broadcasts-finish"):
        assert BEAT_SCHEDULE[entry]["task"] in app.tasks
        assert BEAT_SCHEDULE[entry]["options"]["expires"] <= 3600
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    assert whatsapp_templates_sync_task() == 0
    assert not WhatsAppTemplate.objects.exists()
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = wa.waba_id
    assert whatsapp_templates_sync_task() == 5
    assert WhatsAppTemplate.objects.filter(status="APPROVED").count() == 3


def test_a_template_with_named_variables_or_a_media_header_cannot_be_chosen(staff_client):
    now = timezone.now()
    named = WhatsAppTemplate.objects.create(name="nomme", language="fr", category="MARKETING", status="APPROVED",
                                            components=[{"type": "BODY", "text": "Bonjour {{first_name}}"}],
                                            body_parameter_count=1, synced_at=now)
    media = WhatsAppTemplate.objects.create(name="photo", language="fr", category="MARKETING", status="APPROVED",
                                            components=[{"type": "HEADER", "format": "IMAGE"},
                                                        {"type": "BODY", "text": "Nouveau sirop !"}],
                                            body_parameter_count=0, synced_at=now)
    for chosen in (named, media):
        response = staff_client.post("/api/v1/nurture/broadcasts", {
            "name": "x", "text": "x", "send_at": "2026-12-20T10:00:00+01:00", "whatsapp_template": chosen.pk},
            format="json")
        assert response.status_code == 400
        assert response.json()["errors"][0]["code"] == "unsupported"
