"""Messages in the back office: a broadcast's audience counted before it is sent, now or later,
its progress polled until it is over, cancel; sequences read and switched on or off by staff."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.common.businesstime import business_localtime, business_tz
from api.contacts.services import contact_tags_set, contact_upsert
from api.nurture.selectors import broadcast_get, broadcast_list, broadcast_progress, sequence_get
from api.nurture.services import broadcast_create, broadcast_start, outbound_dispatch, sequence_create
from tests.backoffice.conftest import STAFF_PASSWORD, off_the_event_loop, screenshot_dir
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.django_db

TOKEN = "123456:TEST-backoffice-token"
PAGES = ["broadcast-list", "broadcast-create", "sequence-list"]


@pytest.fixture(autouse=True)
def _nurture_settings(settings) -> Iterator[None]:
    """The tests run the dispatcher themselves; any hour is a sending hour; a clean rate limiter."""
    from api.nurture.ratelimit import forget_rate_limiter, get_rate_limiter

    settings.NURTURE_KICK_DISPATCHER = False
    settings.NURTURE_WINDOW_START = "00:00"
    settings.NURTURE_WINDOW_END = "00:00"
    forget_rate_limiter()
    get_rate_limiter().reset()
    yield
    limiter = get_rate_limiter()
    limiter.reset()
    if hasattr(limiter, "drop"):
        limiter.drop()
    forget_rate_limiter()


@pytest.fixture
def fake_telegram(settings) -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, global_rate=None, per_chat_rate=None) as fake:
        settings.TELEGRAM_BOT_TOKEN = TOKEN
        settings.TELEGRAM_API_BASE_URL = fake.base_url
        yield fake


def _person(name: str, chat: int | None, **fields):
    identity = {"telegram_chat_id": str(chat)} if chat else {"email": f"{name.split()[0].lower()}@example.cm"}
    return contact_upsert(name=name, consents=["telegram"] if chat else None, consent_how="test", **identity,
                          **fields).contact


@pytest.fixture
def people(db):
    """Douala hosts on Telegram (two), a Douala host with a phone only, a Yaoundé host, a Douala reseller."""
    found = {
        "awa": _person("Awa Fotso", 5001, city="Douala", segment="host"),
        "brice": _person("Brice Mbarga", 5002, city="douala", segment="host"),
        "carine": _person("Carine Eto", None, city="Douala", segment="host"),  # e-mail only: no channel
        "denis": _person("Denis Yaoundé", 5004, city="Yaoundé", segment="host"),
        "eric": _person("Eric Revendeur", 5005, city="Douala", segment="reseller"),
    }
    contact_tags_set(contact_id=found["eric"].pk, tags=["vip"])
    return found


def _form(**changes):
    data = {"name": "Coffrets de Noël", "text": "Bonjour {first_name}, nos coffrets de Noël sont là !",
            "channels": ["telegram", "messenger", "whatsapp"], "segment": ["host"], "city": "Douala",
            "when": "now"}
    data.update(changes)
    return data


def _count(html: str) -> int:
    match = re.search(r'id="audience-count" data-count="(\d+)"', html)
    assert match, html
    return int(match.group(1))


@pytest.mark.parametrize("name", PAGES)
def test_the_messages_pages_are_for_staff_and_in_french(client, staff, name):
    assert client.get(reverse(f"backoffice:{name}")).status_code == 302
    client.force_login(staff)
    response = client.get(reverse(f"backoffice:{name}"))
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert "Messages" in page
    assert ("Diffusions" in page) or ("Nouvelle diffusion" in page)


def test_the_preview_counts_the_audience_the_send_reaches(office, people):
    preview = office.get(reverse("backoffice:broadcast-audience"), {"segment": "host", "city": "Douala"},
                         HTTP_HX_REQUEST="true")
    html = preview.content.decode()
    assert "<html" not in html
    assert _count(html) == 3  # Awa, Brice (city typed in lower case) and Carine (no channel: skipped)
    assert "Brice Mbarga" in html
    assert "Denis" not in html
    assert "Eric" not in html
    assert "3 personnes la recevront" in html

    confirm = office.post(reverse("backoffice:broadcast-create"), _form())
    assert confirm.status_code == 200
    assert "Confirmer la diffusion" in confirm.content.decode()
    assert _count(confirm.content.decode()) == 3
    assert not broadcast_list().exists()  # nothing is planned before the confirmation

    response = office.post(reverse("backoffice:broadcast-create"), {**_form(), "confirmed": "1"}, follow=True)
    broadcast = broadcast_list().get()
    assert response.redirect_chain[-1][0] == reverse("backoffice:broadcast-detail", args=[broadcast.pk])
    assert broadcast.audience == {"segment": ["host"], "city": ["Douala"]}
    assert broadcast_start(broadcast_id=broadcast.pk) == 3
    progress = broadcast_progress(broadcast_get(broadcast.pk))
    assert progress["total"] == 3
    assert (progress["pending"], progress["skipped"]) == (2, 1)


def test_a_tag_reaches_whoever_has_it_and_an_unknown_group_counts_nobody(office, people):
    html = office.get(reverse("backoffice:broadcast-audience"), {"tags": "vip, inconnu"}).content.decode()
    assert _count(html) == 1
    assert "Eric Revendeur" in html
    refused = office.get(reverse("backoffice:broadcast-audience"), {"rfm_group": "nope"}).content.decode()
    assert 'class="error"' in refused
    assert "audience-count" not in refused  # not "everyone", which the wrong filter would silently mean


def test_a_scheduled_broadcast_is_stored_at_the_douala_time_chosen(office, people):
    day = business_localtime().date() + timedelta(days=2)
    data = _form(when="later", send_date=day.isoformat(), send_time="18:30", confirmed="1")
    response = office.post(reverse("backoffice:broadcast-create"), data, follow=True)
    broadcast = broadcast_list().get()
    assert broadcast.send_at == datetime(day.year, day.month, day.day, 18, 30, tzinfo=business_tz())
    assert broadcast.state == "scheduled"
    page = response.content.decode()
    assert "Programmée" in page
    assert "18:30" in page
    assert 'hx-trigger="every' not in page  # nothing to poll before its time


def test_a_past_time_or_a_missing_day_is_refused_and_plans_nothing(office, people):
    yesterday = business_localtime().date() - timedelta(days=1)
    past = office.post(reverse("backoffice:broadcast-create"),
                       _form(when="later", send_date=yesterday.isoformat(), send_time="10:00", confirmed="1"))
    assert past.status_code == 400
    assert "déjà passée" in past.content.decode()
    missing = office.post(reverse("backoffice:broadcast-create"), _form(when="later", confirmed="1"))
    assert missing.status_code == 400
    assert "Choisissez le jour" in missing.content.decode()
    assert not broadcast_list().exists()


def test_a_channel_the_outbox_cannot_send_on_is_refused_and_plans_nothing(office, people):
    response = office.post(reverse("backoffice:broadcast-create"), _form(channels=["sms"], confirmed="1"))
    assert response.status_code == 400
    assert response.context["form"].errors["channels"]
    assert not broadcast_list().exists()


def test_progress_polls_while_sending_and_stops_when_finished(office, people, fake_telegram):
    broadcast = broadcast_create(name="Promo", text="Bonjour {first_name}", send_at=timezone.now(),
                                 audience={"segment": ["host", "reseller"], "city": ["Douala"]})
    url = reverse("backoffice:broadcast-progress", args=[broadcast.pk])
    starting = office.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 3s"' in starting  # due: the worker is about to queue it
    broadcast_start(broadcast_id=broadcast.pk)
    sending = office.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "En cours d’envoi" in sending or "En cours d'envoi" in sending
    assert 'hx-trigger="every 3s"' in sending
    assert re.search(r'id="count-pending">3<', sending)

    fake_telegram.block(5005)
    outbound_dispatch(max_seconds=20)
    finished = office.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in finished
    assert "Terminée" in finished
    assert 'hx-trigger' not in finished
    assert re.search(r'id="count-sent">2<', finished)  # Awa and Brice
    assert re.search(r'id="count-skipped">1<', finished)  # Carine has no Telegram
    assert re.search(r'id="count-failed">1<', finished)  # Eric blocked the bot
    assert "100\u00a0%" in finished
    assert len(fake_telegram.sent_messages) == 2


def test_cancel_asks_first_then_stops_the_messages_not_sent(office, people):
    broadcast = broadcast_create(name="Promo", text="Bonjour", send_at=timezone.now(), audience={"segment": "host"})
    broadcast_start(broadcast_id=broadcast.pk)
    detail = office.get(reverse("backoffice:broadcast-detail", args=[broadcast.pk])).content.decode()
    cancel_url = reverse("backoffice:broadcast-cancel", args=[broadcast.pk])
    assert cancel_url in detail
    ask = office.get(cancel_url).content.decode()
    assert "Oui, l’annuler" in ask or "Oui, l'annuler" in ask
    assert broadcast_get(broadcast.pk).state == "running"  # asking changes nothing

    response = office.post(cancel_url, follow=True)
    page = response.content.decode()
    assert broadcast_get(broadcast.pk).state == "cancelled"
    progress = broadcast_progress(broadcast_get(broadcast.pk))
    assert progress["pending"] == 0
    assert progress["cancelled"] == 3
    assert "Annulée" in page
    assert 'hx-trigger' not in page
    assert cancel_url not in page


def test_the_broadcast_list_shows_the_state_in_french(office, people):
    office.post(reverse("backoffice:broadcast-create"), {**_form(), "confirmed": "1"})
    page = office.get(reverse("backoffice:broadcast-list")).content.decode()
    assert "Coffrets de Noël" in page
    assert "Envoi imminent" in page


def test_an_empty_list_says_so(office):
    page = office.get(reverse("backoffice:broadcast-list")).content.decode()
    assert "Aucune diffusion" in page
    assert "Aucune séquence" in office.get(reverse("backoffice:sequence-list")).content.decode()


@pytest.fixture
def welcome(db):
    return sequence_create(name="Bienvenue", purpose="introduction", steps=[
        {"delay": timedelta(), "text": "Bienvenue {first_name} !"},
        {"delay": timedelta(days=2, hours=3), "text": "Avez-vous goûté le bissap ?"},
        {"delay": timedelta(minutes=30), "text": "Un coffret pour vos invités ?"},
    ])


def test_a_sequence_shows_its_steps_in_order_in_french(office, welcome):
    listing = office.get(reverse("backoffice:sequence-list")).content.decode()
    assert "Bienvenue" in listing
    assert "3 messages" in listing
    assert "Accueil (chaque nouveau contact)" in listing
    page = office.get(reverse("backoffice:sequence-detail", args=[welcome.pk])).content.decode()
    first, second, third = (page.index(t) for t in ("Bienvenue {first_name}", "goûté le bissap", "vos invités"))
    assert first < second < third
    assert "à l’inscription" in page or "à l'inscription" in page
    assert "2 jours 3 h après le précédent" in page
    assert "30 min après le précédent" in page


def test_staff_switch_a_sequence_off_and_on(office, welcome):
    url = reverse("backoffice:sequence-detail", args=[welcome.pk])
    response = office.post(url, {"active": "0"}, follow=True)
    assert sequence_get(welcome.pk).is_active is False
    assert "Désactivée" in response.content.decode() or "désactivée" in response.content.decode()
    office.post(url, {"active": "1"})
    assert sequence_get(welcome.pk).is_active is True


def test_staff_rewrite_a_message_of_a_sequence_and_its_timing(office, welcome):
    url = reverse("backoffice:sequence-step-edit", args=[welcome.pk, 2])
    form = office.get(url).content.decode()
    assert "Avez-vous goûté le bissap ?" in form
    assert 'name="days" value="2"' in form
    assert 'name="hours" value="3"' in form
    response = office.post(url, {"text": "Avez-vous goûté notre sirop de gingembre ?", "days": "3", "hours": "0",
                                 "window_start": "10:00", "window_end": "18:30"}, follow=True)
    page = response.content.decode()
    assert "Message 2 enregistré" in page
    step = next(s for s in sequence_get(welcome.pk).steps.all() if s.position == 2)
    assert (step.text, step.delay) == ("Avez-vous goûté notre sirop de gingembre ?", timedelta(days=3))
    assert (step.window_start.strftime("%H:%M"), step.window_end.strftime("%H:%M")) == ("10:00", "18:30")
    assert "3 jours après le précédent" in page


def test_a_step_that_breaks_a_rule_is_refused_in_french_and_changes_nothing(office, welcome):
    url = reverse("backoffice:sequence-step-edit", args=[welcome.pk, 2])
    for data, field in (({"text": "  ", "days": "1", "hours": "0"}, "text"),
                        ({"text": "Bonjour", "days": "400", "hours": "0"}, "days"),
                        ({"text": "Bonjour", "days": "1", "hours": "0", "window_start": "19:00",
                          "window_end": "08:00"}, "window_end")):
        response = office.post(url, data)
        assert response.status_code == 400
        assert re.search(rf'id="field-{field}"[^>]*>.*?role="alert"', response.content.decode(), re.S), data
    step = next(s for s in sequence_get(welcome.pk).steps.all() if s.position == 2)
    assert step.text == "Avez-vous goûté le bissap ?"


def test_staff_add_a_message_at_the_end_of_a_sequence(office, welcome):
    office.post(reverse("backoffice:sequence-step-add", args=[welcome.pk]),
                {"text": "Votre code ami : {referral_code}", "days": "7", "hours": "0"})
    steps = sorted(sequence_get(welcome.pk).steps.all(), key=lambda s: s.position)
    assert [s.position for s in steps] == [1, 2, 3, 4]
    assert (steps[-1].text, steps[-1].delay) == ("Votre code ami : {referral_code}", timedelta(days=7))


def test_a_missing_broadcast_or_sequence_is_a_french_404(office):
    for name in ("broadcast-detail", "broadcast-progress", "broadcast-cancel", "sequence-detail",
                 "sequence-step-add"):
        response = office.get(reverse(f"backoffice:{name}", args=[999999]))
        assert response.status_code == 404
    assert office.get(reverse("backoffice:sequence-step-edit", args=[999999, 1])).status_code == 404


# --- in a phone-sized browser ---------------------------------------------------------------------------

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_broadcast_on_a_phone_from_the_audience_count_to_its_cancel(live_server, staff, people, welcome,
                                                                      phone):
    # Given a staff member on a phone-sized screen that may not reach beyond the machine
    page = phone
    shots = screenshot_dir()
    page.goto(f"{live_server.url}/app/connexion/")
    page.fill("#id_username", staff.username)
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Ma journée")

    # When they write a broadcast, the audience count follows the filters they tick
    page.click("nav >> text=Messages")
    page.click("text=Nouvelle diffusion")
    page.wait_for_load_state("load")  # htmx listens from then on
    page.fill("#id_name", "Coffrets de Noël")
    page.fill("#id_text", "Bonjour {first_name}, nos coffrets de Noël sont là !")
    page.check("#field-segment input[value='host']")
    page.wait_for_selector("#audience-count[data-count='4']")  # every host, Yaoundé too
    page.fill("#id_city", "Douala")
    page.wait_for_selector("#audience-count[data-count='3']")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=shots / "messages-01-nouvelle-diffusion.png", full_page=True)

    # Then they check who gets it before sending, and send it now
    page.click("#broadcast-form button[type=submit]")
    page.wait_for_selector("text=Confirmer la diffusion")
    assert page.get_attribute("#audience-count", "data-count") == "3"
    page.screenshot(path=shots / "messages-02-confirmation.png", full_page=True)
    page.click("#confirm-send")
    page.wait_for_selector("text=Diffusion lancée")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # The page follows the worker: it polls while the messages are queued and going out
    broadcast = off_the_event_loop(lambda: broadcast_list().get())
    off_the_event_loop(broadcast_start, broadcast_id=broadcast.pk)
    page.wait_for_selector("#progress[data-phase='sending']")
    assert page.inner_text("#count-pending") == "2"
    assert page.inner_text("#count-skipped") == "1"
    page.screenshot(path=shots / "messages-03-progression.png", full_page=True)

    # They cancel it after a confirmation, and the page stops polling
    page.click("#cancel")
    page.wait_for_selector("#confirm-cancel")
    page.click("#confirm-cancel")
    page.wait_for_selector("#progress[data-phase='cancelled']")
    assert page.get_attribute("#progress", "hx-trigger") is None
    assert off_the_event_loop(lambda: broadcast_get(broadcast.pk).state) == "cancelled"
    page.screenshot(path=shots / "messages-04-annulee.png", full_page=True)

    # The sequences read in French, in order, within the phone's width
    page.click("nav.menu >> text=Messages")
    page.click("nav.tabs >> text=Séquences")
    page.click("#sequence-list >> text=Bienvenue")
    page.wait_for_selector("#steps")
    assert "2 jours 3 h après le précédent" in page.inner_text("#step-2")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=shots / "messages-05-sequence.png", full_page=True)

    # They rewrite the second message from the phone
    page.click("#step-2 >> text=Modifier")
    page.fill("#id_text", "Avez-vous goûté notre sirop de gingembre ?")
    page.fill("#id_days", "3")
    page.fill("#id_hours", "0")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=shots / "messages-06-message.png", full_page=True)
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#steps")
    assert "sirop de gingembre" in page.inner_text("#step-2")
    assert "3 jours après le précédent" in page.inner_text("#step-2")

