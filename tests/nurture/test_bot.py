"""The Telegram bot: webhook checks, /start, the source question, STOP, blocks, inbound text, polling."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from api.campaigns.models import Touchpoint
from api.contacts.models import Consent, Contact
from api.contacts.selectors import contact_can_receive
from api.nurture.enums import Purpose
from api.nurture.models import Cursor, NurtureProfile, OutboundMessage, TelegramUpdate
from api.nurture.services import MONTHLY_CONFIRM, SOURCE_QUESTION, STOP_CONFIRM, sequence_create
from tests.fakes.telegram_server import callback_update, message_update, my_chat_member_update
from tests.nurture.conftest import SECRET, STAFF_CHAT, dispatch, make_contact, marketing

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/telegram"
CHAT = 551234567


def post_update(api_client, update, secret=SECRET):
    headers = {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret} if secret is not None else {}
    return api_client.post(URL, update, format="json", **headers)


def texts_to(fake, chat_id):
    return [m.text for m in fake.messages_to(chat_id)]


def test_the_webhook_refuses_a_wrong_or_missing_secret(api_client):
    update = message_update(CHAT, "/start", update_id=1)
    for secret in ("wrong", None, ""):
        response = post_update(api_client, update, secret=secret)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert not TelegramUpdate.objects.exists()
    assert not Contact.objects.exists()


def test_the_webhook_refuses_everything_while_no_secret_is_configured(api_client, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    assert post_update(api_client, message_update(CHAT, "/start", update_id=1), secret="").status_code == 403


def test_an_update_without_update_id_is_a_400(api_client):
    update = message_update(CHAT, "/start")
    response = post_update(api_client, update)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_update"


def test_each_update_id_is_processed_once(api_client):
    update = message_update(CHAT, "/start", update_id=77)
    first = post_update(api_client, update)
    second = post_update(api_client, update)
    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False
    assert second.json()["duplicate"] is True
    assert TelegramUpdate.objects.count() == 1
    assert Contact.objects.filter(telegram_chat_id=str(CHAT)).count() == 1
    # intro + source question + staff "new lead", once each
    assert OutboundMessage.objects.filter(idempotency_key__startswith="tg:77:").count() == 2
    assert OutboundMessage.objects.filter(category="staff").count() == 1


def test_start_with_a_campaign_code_against_the_fake_bot_api(api_client, fake_telegram,
                                                            django_capture_on_commit_callbacks):
    sequence = sequence_create(name="Noël", purpose=Purpose.CAMPAIGN, campaign_code="FB-NOEL",
                               steps=[{"text": "{first_name}, nos coffrets de Noël !"}], channels=["telegram"])
    assert post_update(api_client, message_update(CHAT, "/start FB-NOEL", update_id=10, first_name="Awa",
                                                  username="awa_m")).status_code == 200
    contact = Contact.objects.get(telegram_chat_id=str(CHAT))
    assert contact.first_name == "Awa"
    assert contact.telegram_username == "awa_m"
    assert contact.acquisition_channel == "telegram"
    assert Consent.objects.get(contact=contact, channel="telegram").is_active
    assert contact.nurture_enrollments.get().sequence == sequence

    dispatch()
    dispatch_until_idle()
    texts = texts_to(fake_telegram, CHAT)
    assert texts[0].startswith("Bonjour Awa ! Bienvenue chez Confiotes")
    assert SOURCE_QUESTION in texts
    assert "Awa, nos coffrets de Noël !" in texts
    question = next(m for m in fake_telegram.messages_to(CHAT) if m.text == SOURCE_QUESTION)
    buttons = [b["callback_data"] for row in question.reply_markup["inline_keyboard"] for b in row]
    assert "src:facebook" in buttons
    staff = texts_to(fake_telegram, int(STAFF_CHAT))
    assert len(staff) == 1
    assert "Nouveau prospect" in staff[0]
    assert "FB-NOEL" in staff[0]
    _assert_touchpoint(contact, "bot_start", "FB-NOEL")

    # The answer to "Comment nous avez-vous connus ?" sets the self-reported source, as its stable key.
    with django_capture_on_commit_callbacks(execute=True):
        assert post_update(api_client, callback_update(CHAT, "src:facebook", update_id=11)).status_code == 200
    contact.refresh_from_db()
    assert contact.self_reported_source == "facebook"
    _assert_touchpoint(contact, "self_reported_source")
    dispatch_until_idle()
    assert "Merci ! 🙏" in texts_to(fake_telegram, CHAT)
    assert fake_telegram.calls_to("answerCallbackQuery")
    assert fake_telegram.count_retry_after_ignored == 0


def dispatch_until_idle(rounds: int = 10) -> None:
    """Run the dispatcher until nothing is due (per-chat pacing puts rows back for a second)."""
    import time

    for _ in range(rounds):
        dispatch()
        if not OutboundMessage.objects.filter(state="scheduled").exists():
            return
        time.sleep(0.5)


def _assert_touchpoint(contact, kind, code=None):
    touch = Touchpoint.objects.filter(contact_id=contact.pk, kind=kind).first()
    assert touch is not None
    if code:
        campaign_code = getattr(getattr(touch, "campaign", None), "code", None)
        assert campaign_code == code or (touch.details or {}).get("unknown_code") == code


def test_stop_stops_marketing_at_once_and_offers_monthly_as_a_way_back(api_client, fake_telegram):
    contact = make_contact(CHAT)
    queued = marketing(contact, "Promo")
    assert contact_can_receive(contact.pk, "telegram") == (True, "ok")

    post_update(api_client, message_update(CHAT, "STOP", update_id=20))

    # At once, before any dispatcher runs: consent gone, the queued promotion cancelled.
    assert contact_can_receive(contact.pk, "telegram") == (False, "consent_revoked")
    queued.refresh_from_db()
    assert (queued.state, queued.reason) == ("cancelled", "opted_out")
    marketing(contact, "Another promo")  # queued later by a sequence or a broadcast: skipped at send time
    dispatch_until_idle()
    assert texts_to(fake_telegram, CHAT) == [STOP_CONFIRM]
    confirm = fake_telegram.messages_to(CHAT)[0]
    choices = [b["callback_data"] for row in confirm.reply_markup["inline_keyboard"] for b in row]
    assert choices == ["freq:monthly"]
    assert OutboundMessage.objects.get(text="Another promo").reason == "consent_revoked"


@pytest.mark.parametrize("text", ["stop", "/stop", "/stop@ConfiotesBot", "ARRÊT", "arret", "Arrêter",
                                  "Désabonner", "DESABONNER", "unsubscribe", " Stop ! "])
def test_stop_words_in_french_and_english_any_case_or_accent(api_client, text):
    contact = make_contact(CHAT)
    post_update(api_client, message_update(CHAT, text, update_id=30))
    assert Consent.objects.get(contact=contact, channel="telegram").revoked_at is not None


def test_a_sentence_with_stop_in_it_is_a_question_not_a_stop(api_client):
    contact = make_contact(CHAT)
    post_update(api_client, message_update(CHAT, "Quand est-ce que vous arrêtez la promo ? stop", update_id=31))
    assert contact_can_receive(contact.pk, "telegram") == (True, "ok")
    assert OutboundMessage.objects.filter(category="staff", text__contains="arrêtez la promo").exists()


def test_choosing_monthly_after_stop_grants_consent_again_for_one_message_a_month(api_client, fake_telegram):
    contact = make_contact(CHAT)
    post_update(api_client, message_update(CHAT, "STOP", update_id=40))
    assert not contact_can_receive(contact.pk, "telegram")[0]
    post_update(api_client, callback_update(CHAT, "freq:monthly", update_id=41))
    assert NurtureProfile.objects.get(contact=contact).frequency == "monthly"
    assert contact_can_receive(contact.pk, "telegram") == (True, "ok")
    first, second = marketing(contact, "Message du mois"), marketing(contact, "Encore un")
    dispatch_until_idle()
    first.refresh_from_db(), second.refresh_from_db()
    assert sorted([first.state, second.state]) == ["sent", "skipped"]
    assert {first.reason, second.reason} == {"", "monthly_only"}
    assert {STOP_CONFIRM, MONTHLY_CONFIRM} <= set(texts_to(fake_telegram, CHAT))


def test_the_old_stop_button_still_opts_out(api_client):
    """Keyboards sent before the one-step STOP are still in people's chats."""
    contact = make_contact(CHAT)
    post_update(api_client, callback_update(CHAT, "stop:all", update_id=42))
    assert contact_can_receive(contact.pk, "telegram") == (False, "consent_revoked")


def test_a_source_the_bot_does_not_know_is_kept_as_other_with_the_raw_value(api_client, caplog):
    contact = make_contact(CHAT)
    post_update(api_client, callback_update(CHAT, "src:radio-balafon", update_id=43))
    contact.refresh_from_db()
    assert contact.self_reported_source == "other"
    touch = Touchpoint.objects.get(contact_id=contact.pk, kind="self_reported_source")
    assert touch.details == {"self_reported_source": "other", "label": "Autre", "raw": "radio-balafon"}
    assert "radio-balafon" in caplog.text


def test_the_old_friend_button_is_word_of_mouth(api_client):
    contact = make_contact(CHAT)
    post_update(api_client, callback_update(CHAT, "src:friend", update_id=44))
    contact.refresh_from_db()
    assert contact.self_reported_source == "word_of_mouth"


def test_a_blocked_bot_marks_the_chat_unreachable_and_cancels_its_messages(api_client, fake_telegram):
    contact = make_contact(CHAT)
    pending = marketing(contact, "Promo")
    post_update(api_client, my_chat_member_update(CHAT, "kicked", update_id=50))
    consent = Consent.objects.get(contact=contact, channel="telegram")
    assert consent.unreachable_at is not None
    pending.refresh_from_db()
    assert pending.state == "cancelled"
    assert pending.reason == "unreachable"
    dispatch()
    assert fake_telegram.messages_to(CHAT) == []


def test_other_text_is_an_inbound_touch_forwarded_to_staff_and_stops_reply_sequences(api_client, fake_telegram):
    contact = make_contact(CHAT, first_name="Brice")
    sequence = sequence_create(name="Relance", steps=[{"text": "a", "delay": "1 00:00:00"}], stop_on_reply=True,
                               channels=["telegram"])
    from api.nurture.services import enrollment_create

    enrollment = enrollment_create(sequence_id=sequence.pk, contact_id=contact.pk, trigger="staff")
    post_update(api_client, message_update(CHAT, "Avez-vous du sirop de bissap ?", update_id=60))
    enrollment.refresh_from_db()
    assert enrollment.state == "stopped"
    assert enrollment.stopped_reason == "replied"
    _assert_touchpoint(contact, "inbound_message")
    dispatch()
    staff = texts_to(fake_telegram, int(STAFF_CHAT))
    assert any("Avez-vous du sirop de bissap ?" in t and "Brice" in t for t in staff)


def test_polling_processes_updates_and_stores_the_offset(fake_telegram, settings):
    fake_telegram.push_update(message_update(CHAT, "/start", update_id=500))
    fake_telegram.push_update(message_update(CHAT, "Bonjour", update_id=501))
    call_command("telegram_poll", "--once", "--timeout", "0")
    assert Cursor.objects.get(name="telegram_offset").value == 502
    assert set(TelegramUpdate.objects.values_list("update_id", flat=True)) == {500, 501}
    assert TelegramUpdate.objects.filter(processed_at__isnull=True).count() == 0
    call_command("telegram_poll", "--once", "--timeout", "0")  # confirms: the fake forgets them
    assert fake_telegram.pending_updates == []


def test_the_webhook_command_registers_the_url_with_the_secret(fake_telegram, settings):
    settings.PUBLIC_BASE_URL = "https://confiotes.example"
    call_command("telegram_webhook")
    assert fake_telegram.webhook_url == "https://confiotes.example/api/v1/webhooks/telegram"
    assert fake_telegram.webhook_secret == SECRET
    call_command("telegram_webhook", "--delete")
    assert fake_telegram.webhook_url is None


@pytest.mark.django_db(transaction=True)  # as in production: the webhook runs outside a request transaction
def test_an_update_that_failed_unexpectedly_is_retried_later(api_client, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from api.nurture.services import bot, telegram_updates_retry

    def broken(update):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(bot, "inbound_receive", broken)
    api_client.raise_request_exception = False
    response = post_update(api_client, message_update(CHAT, "/start", update_id=90))
    assert response.status_code == 500
    row = TelegramUpdate.objects.get(update_id=90)
    assert row.processed_at is None
    assert row.error == "RuntimeError"
    monkeypatch.undo()
    assert telegram_updates_retry() == 0  # too recent: Telegram redelivers first
    assert telegram_updates_retry(now=timezone.now() + timedelta(minutes=2)) == 1
    assert Contact.objects.filter(telegram_chat_id=str(CHAT)).exists()
