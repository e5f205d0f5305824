"""WhatsAppClient against the fake Cloud API over real HTTP, and the fake's signed webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from integrations.errors import PermanentError, RateLimited, Unreachable
from integrations.meta.types import WhatsAppTemplate
from integrations.meta.webhooks import SIGNATURE_HEADER, parse_whatsapp, verify_signature
from integrations.meta.whatsapp import WhatsAppClient
from tests.fakes.loopback import LoopbackServer, Reply
from tests.fakes.whatsapp_server import FakeWhatsApp, template

AWA = "+237677123456"
PAUL = "+237699333444"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp()
TEMPLATES = [
    template("relance_coffret", "Bonjour {{1}}, votre coffret {{2}} vous attend. {{1}}, répondez OUI.",
             category="MARKETING"),
    template("commande_prete", "Votre commande {{1}} est prête.", category="UTILITY"),
    template("promo_noel", "Nos coffrets de Noël sont là !", status="PAUSED"),
    template("promo_refusee", "Promo {{1}}", status="REJECTED"),
    template("bienvenue", "Welcome {{1}}", language="en"),
]


class Receiver(LoopbackServer):
    """The app's webhook endpoint, reduced to what Meta sees: 200 for a good signature, else 401."""

    def __init__(self, app_secret: str):
        super().__init__()
        self.app_secret = app_secret
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if not verify_signature(body, headers.get(SIGNATURE_HEADER), self.app_secret):
            return Reply(401, {"error": "bad signature"})
        with self._lock:
            self.bodies.append(body)
        return Reply(200, {"ok": True})

    def events(self):
        return [event for body in self.bodies for event in parse_whatsapp(json.loads(body))]


class Clock:
    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def receiver():
    with Receiver("wa-app-secret") as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def fake(receiver, clock):
    with FakeWhatsApp(templates=TEMPLATES, webhook_target=f"{receiver.base_url}/webhooks/meta", rate=5,
                      clock=clock, wall_clock=lambda: NOW) as server:
        yield server


@pytest.fixture
def client(fake) -> WhatsAppClient:
    return WhatsAppClient(fake.access_token, fake.phone_number_id, app_secret=fake.app_secret,
                          base_url=fake.base_url)


# -- sends ------------------------------------------------------------------------------------------------


def test_text_is_accepted_and_recorded_with_its_wamid(fake, client):
    sent = client.send_text(AWA, "Bonjour Awa, le sirop de gingembre est disponible.")

    (message,) = fake.messages
    assert sent.message_id == message.wamid
    assert sent.recipient_id == "237677123456"
    assert message.text == "Bonjour Awa, le sirop de gingembre est disponible."


def test_template_body_parameters_fill_the_placeholders(fake, client):
    client.send_template(AWA, "relance_coffret", "fr", body_parameters=["Awa", "Saveurs du Mungo"])

    (message,) = fake.messages_to(AWA)
    assert message.template_name == "relance_coffret"
    assert message.body_parameters == ["Awa", "Saveurs du Mungo"]
    assert message.body["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Awa"},
                                        {"type": "text", "text": "Saveurs du Mungo"}]}]


def test_template_with_the_wrong_number_of_parameters_is_refused(fake, client):
    with pytest.raises(PermanentError) as caught:
        client.send_template(AWA, "relance_coffret", "fr", body_parameters=["Awa"])

    assert caught.value.code == 132000
    assert fake.messages == []


@pytest.mark.parametrize(("name", "language", "code", "reason"), [
    ("promo_noel", "fr", 132015, "template_paused"),
    ("promo_refusee", "fr", 132001, "template_missing"),
    ("bienvenue", "fr", 132001, "template_missing"),  # exists in English only
    ("inconnu", "fr", 132001, "template_missing"),
])
def test_templates_that_cannot_be_sent_say_why(fake, client, name, language, code, reason):
    with pytest.raises(PermanentError) as caught:
        client.send_template(AWA, name, language, body_parameters=["x"] if name == "promo_refusee" else None)

    assert (caught.value.code, caught.value.reason) == (code, reason)
    assert fake.messages == []


def test_reply_buttons_are_sent_with_short_titles(fake, client):
    client.send_buttons(AWA, "Comment nous avez-vous connus ?", [
        ("source:word_of_mouth", "Bouche-à-oreille d'un ami"), ("source:facebook", "Facebook"),
        ("source:tasting", "Dégustation")])

    (message,) = fake.messages
    assert message.body["interactive"]["type"] == "button"
    assert message.choices == [("source:word_of_mouth", "Bouche-à-oreille d'…"), ("source:facebook", "Facebook"),
                               ("source:tasting", "Dégustation")]
    assert all(len(title) <= 20 for _, title in message.choices)


def test_more_than_three_buttons_is_refused_before_any_request(fake, client):
    buttons = [(f"b{i}", f"Choix {i}") for i in range(4)]

    with pytest.raises(ValueError, match="at most 3"):
        client.send_buttons(AWA, "Choisissez", buttons)

    assert fake.request_count == 0


def test_buttons_whose_titles_collide_once_shortened_are_refused(client):
    with pytest.raises(ValueError, match="unique"):
        client.send_buttons(AWA, "Choisissez", [("a", "Coffret liqueur de gingembre"),
                                                ("b", "Coffret liqueur de gingembre bio")])


def test_list_is_sent_as_one_section(fake, client):
    rows = [("source:word_of_mouth", "Bouche-à-oreille"), ("source:facebook", "Facebook"),
            ("source:whatsapp", "WhatsApp"), ("source:tasting", "Dégustation"), ("source:fair", "Salon ou foire"),
            ("source:reseller", "Un revendeur près de chez moi"), ("source:instagram", "Instagram"),
            ("source:other", "Autre")]

    client.send_list(AWA, "Comment nous avez-vous connus ?", "Voir les réponses possibles", rows)

    (message,) = fake.messages
    action = message.body["interactive"]["action"]
    assert message.body["interactive"]["type"] == "list"
    assert action["button"] == "Voir les réponses p…"
    assert len(action["sections"]) == 1
    assert message.choices[5] == ("source:reseller", "Un revendeur près de ch…")  # 24 characters
    assert [row_id for row_id, _ in message.choices] == [row_id for row_id, _ in rows]


def test_more_than_ten_rows_is_refused(client):
    with pytest.raises(ValueError, match="at most 10"):
        client.send_list(AWA, "Choisissez", "Voir", [(f"r{i}", f"Ligne {i}") for i in range(11)])


def test_image_with_caption(fake, client):
    client.send_image(AWA, "https://confiotes.example/coffret.jpg", caption="Le coffret du mois")

    (message,) = fake.messages
    assert message.body["image"] == {"link": "https://confiotes.example/coffret.jpg", "caption": "Le coffret du mois"}


def test_wrong_token_is_a_permanent_error_without_the_token(fake):
    client = WhatsAppClient("not-the-token", fake.phone_number_id, base_url=fake.base_url)

    with pytest.raises(PermanentError) as caught:
        client.send_text(AWA, "hi")

    assert caught.value.reason == "token_invalid"
    assert "not-the-token" not in str(caught.value)
    assert fake.messages == []


# -- limits and scripted errors -----------------------------------------------------------------------------


def test_throughput_over_the_rate_is_answered_130429_and_mapped_to_rate_limited(fake, client, clock):
    for i in range(5):
        client.send_text(AWA, f"Message {i}")

    with pytest.raises(RateLimited) as caught:
        client.send_text(AWA, "Un de trop")

    assert caught.value.code == 130429
    assert caught.value.reason == "throughput"
    assert caught.value.retry_after > 0
    assert len(fake.messages) == 5
    assert fake.throttled_count == 1

    clock.now += 1.0  # one second later the window has room again
    client.send_text(AWA, "Un de trop, plus tard")
    assert len(fake.messages) == 6


def test_scripted_pair_rate_limit_is_rate_limited(fake, client):
    fake.fail_next_send(AWA, 131056)

    with pytest.raises(RateLimited) as caught:
        client.send_text(AWA, "Encore moi")

    assert (caught.value.code, caught.value.reason, caught.value.retry_after) == (131056, "pair_rate_limit", 6.0)
    client.send_text(AWA, "Encore moi")  # only the next send was scripted
    assert len(fake.messages) == 1


@pytest.mark.parametrize(("code", "reason"), [(131049, "ecosystem_limit"), (131047, "outside_window")])
def test_scripted_refusals_keep_their_code(fake, client, code, reason):
    fake.fail_next_send(AWA, code)

    with pytest.raises(PermanentError) as caught:
        client.send_template(AWA, "relance_coffret", "fr", body_parameters=["Awa", "Mungo"])

    assert (caught.value.code, caught.value.reason) == (code, reason)
    assert not isinstance(caught.value, RateLimited | Unreachable)
    client.send_template(PAUL, "relance_coffret", "fr", body_parameters=["Paul", "Mungo"])
    assert [m.to for m in fake.messages] == ["237699333444"]  # another number is not affected


def test_window_enforcement_refuses_free_text_until_the_person_writes(fake, client):
    fake.enforce_window = True

    with pytest.raises(PermanentError) as caught:
        client.send_text(AWA, "Bonjour !")
    client.send_template(AWA, "commande_prete", "fr", body_parameters=["CF-1042"])  # templates go through

    fake.post_inbound_text(AWA, "Bonjour, c'est prêt ?", at=NOW - 3600)
    client.send_text(AWA, "Oui, passez quand vous voulez.")

    assert caught.value.code == 131047
    assert [m.type for m in fake.messages] == ["template", "text"]


# -- templates list -------------------------------------------------------------------------------------------


def test_list_templates_follows_every_page(fake, client):
    fake.page_size_max = 2

    templates = client.list_templates(fake.waba_id, limit=2)

    assert templates == fake.expected_templates()
    assert len([r for r in fake.requests if r[1].endswith("/message_templates")]) == 3
    by_name = {t.name: t for t in templates}
    assert by_name["relance_coffret"].body_parameter_count == 2  # {{1}} twice counts once
    assert by_name["promo_noel"].body_parameter_count == 0
    assert (by_name["promo_noel"].status, by_name["promo_noel"].is_approved) == ("PAUSED", False)
    assert by_name["commande_prete"].category == "UTILITY"
    assert isinstance(templates[0], WhatsAppTemplate)


def test_list_templates_asks_for_the_fields_it_reads(fake, client):
    client.list_templates(fake.waba_id)

    (_, path, params) = fake.requests[-1]
    assert path.endswith(f"/{fake.waba_id}/message_templates")
    assert {"name", "language", "category", "status", "components", "id"} <= set(params["fields"].split(","))


# -- status webhooks --------------------------------------------------------------------------------------------


def test_statuses_are_posted_signed_and_parse_back(fake, client, receiver):
    sent = client.send_template(AWA, "relance_coffret", "fr", body_parameters=["Awa", "Mungo"])
    assert fake.webhooks == []  # nothing is posted until the test says so

    posted = fake.post_statuses(upto="delivered")
    later = fake.post_statuses(upto="read", at=NOW + 600)

    assert [p.status for p in posted + later] == [200, 200, 200]
    events = receiver.events()
    assert [(e.message_id, e.status) for e in events] == [(sent.message_id, "sent"), (sent.message_id, "delivered"),
                                                          (sent.message_id, "read")]
    assert {(e.pricing_category, e.billable, e.pricing_model) for e in events} == {("marketing", True, "PMP")}
    assert events[-1].timestamp == datetime.fromtimestamp(NOW + 600, UTC)
    assert events[0].phone_e164 == AWA
    assert events[0].conversation_id


def test_statuses_are_signed_over_the_raw_body(fake, client):
    bodies = []
    fake.webhook_target = lambda body, headers: bodies.append((body, headers)) or 200
    client.send_text(AWA, "hi")

    (posted,) = fake.post_statuses(upto="sent")

    body, headers = bodies[0]
    assert verify_signature(body, headers[SIGNATURE_HEADER], fake.app_secret)
    assert not verify_signature(body, headers[SIGNATURE_HEADER], "another-secret")
    assert posted.body == body


def test_a_wrongly_signed_receiver_answer_is_reported(fake, client, receiver):
    receiver.app_secret = "the-app-expects-another-secret"
    client.send_text(AWA, "hi")

    (posted,) = fake.post_statuses(upto="sent")

    assert posted.status == 401
    assert not posted.ok


def test_free_form_reply_is_not_billable_and_utility_in_window_is_free(fake, client, receiver):
    fake.post_inbound_text(AWA, "Bonjour")
    client.send_text(AWA, "Bonjour Awa !")
    client.send_template(AWA, "commande_prete", "fr", body_parameters=["CF-1042"])
    client.send_template(PAUL, "commande_prete", "fr", body_parameters=["CF-1043"])

    fake.post_statuses(upto="sent")

    statuses = [e for e in receiver.events() if e.kind == "status"]
    assert [(e.pricing_category, e.billable) for e in statuses] == [
        ("service", False), ("utility", False), ("utility", True)]


def test_scripted_delivery_failure_posts_failed_with_131049(fake, client, receiver):
    fake.fail_next_delivery(AWA, 131049)

    sent = client.send_template(AWA, "relance_coffret", "fr", body_parameters=["Awa", "Mungo"])
    fake.post_statuses(upto="read")
    fake.post_statuses(upto="read")  # nothing more to post

    (failed,) = receiver.events()
    assert (failed.message_id, failed.status, failed.error_codes) == (sent.message_id, "failed", (131049,))
    assert "healthy ecosystem" in (failed.error_title or "")


def test_auto_statuses_follow_each_send(fake, client, receiver):
    fake.auto_statuses = "delivered"

    sent = client.send_text(AWA, "hi")
    fake.drain()  # the posts that follow the answer have finished

    assert [(e.message_id, e.status) for e in receiver.events()] == [(sent.message_id, "sent"),
                                                                      (sent.message_id, "delivered")]
    assert fake.auto_errors == []


# -- inbound messages -------------------------------------------------------------------------------------------


def test_inbound_text_carries_the_time_the_person_wrote(fake, receiver):
    wrote_at = datetime(2026, 3, 1, 18, 45, 12, tzinfo=UTC)

    posted = fake.post_inbound_text(AWA, "Je veux 2 bouteilles", name="Awa Ngono", at=wrote_at)

    (event,) = receiver.events()
    assert (event.kind, event.text, event.profile_name, event.phone_e164) == (
        "message", "Je veux 2 bouteilles", "Awa Ngono", AWA)
    assert event.timestamp == wrote_at
    assert event.event_id == posted.event_id


def test_inbound_replies_answer_the_last_message_sent(fake, client, receiver):
    asked = client.send_buttons(AWA, "Comment nous avez-vous connus ?", [("source:fair", "Salon / foire")])

    fake.post_inbound_reply(AWA, "source:fair", "Salon / foire")
    fake.post_inbound_reply(AWA, "source:tasting", "Dégustation", list_reply=True)
    fake.post_inbound_button(AWA, "STOP_PROMOS", "Arrêter les promos")

    button, row, template_button = receiver.events()
    assert (button.reply_id, button.text, button.reply_to) == ("source:fair", "Salon / foire", asked.message_id)
    assert (row.reply_id, row.text) == ("source:tasting", "Dégustation")
    assert (template_button.reply_id, template_button.text) == ("STOP_PROMOS", "Arrêter les promos")
