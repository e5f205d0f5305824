"""Demo customer file: about 2,000 contacts of Douala, Yaoundé and beyond, with a few
deliberate near-duplicates for the merge list. Bulk inserts only (well under 10 s)."""

from __future__ import annotations

import random
from datetime import time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from api.contacts.enums import Channel, LifecycleStage, Segment
from api.contacts.models import Consent, Contact, ContactEvent, ContactNote, FollowUpTask, Tag

FIRST_NAMES_F = ["Mireille", "Aïcha", "Christelle", "Nadège", "Sandrine", "Estelle", "Carine", "Armelle", "Ginette",
                 "Fadimatou", "Salomé", "Vanessa", "Larissa", "Joséphine", "Brigitte", "Hortense", "Pélagie",
                 "Rosine", "Danielle", "Clarisse", "Ange", "Laure", "Mariama", "Hadiza", "Berthe", "Solange"]
FIRST_NAMES_M = ["Jean-Paul", "Brice", "Arnaud", "Hervé", "Serge", "Rodrigue", "Blaise", "Yannick", "Patrice",
                 "Franck", "Hamadou", "Oumarou", "Ibrahim", "Thierry", "Boris", "Junior", "Paul", "Samuel",
                 "Emmanuel", "Landry", "Achille", "Martial", "Alain", "Didier", "Moussa", "Christian"]
LAST_NAMES = ["Ngo Bassa", "Mbarga", "Fotso", "Kamga", "Nkoulou", "Etoa", "Tchoupo", "Nguemo", "Mballa",
              "Essomba", "Atangana", "Ondoa", "Kengne", "Tchinda", "Djoumessi", "Moukoko", "Ekwalla", "Njoya",
              "Bello", "Abega", "Manga", "Ndjock", "Eboa", "Wandji", "Tagne", "Simo", "Nana", "Ayuk", "Tabi",
              "Fouda", "Owona", "Belinga", "Mvondo", "Nkeng", "Tamba", "Ebongue", "Dikongue", "Youmbi", "Sadou"]
CITIES = {
    "Douala": ["Bonamoussadi", "Akwa", "Bonapriso", "Deïdo", "Makepe", "Logbaba", "Bali", "Kotto", "PK14"],
    "Yaoundé": ["Bastos", "Mvog-Ada", "Biyem-Assi", "Essos", "Nlongkak", "Mendong", "Emana", "Odza"],
    "Bafoussam": ["Tamdja", "Kouogouo"], "Buea": ["Molyko", "Bonduma"], "Limbé": ["Down Beach", "Mile 4"],
    "Kribi": ["Mokolo", "Ngoyé"], "Garoua": ["Roumdé Adjia"], "Bamenda": ["Nkwen", "Up Station"],
}
CITY_WEIGHTS = [45, 35, 5, 4, 3, 3, 3, 2]
SOURCES = ["Publicité Facebook", "WhatsApp d'une amie", "Dégustation au supermarché", "Salon MIC de Yaoundé",
           "Bouche à oreille", "Bot Telegram", "Instagram", "Ma tontine", "Foire de Douala", "Collègue de bureau"]
CHANNELS = ["facebook_ads", "whatsapp", "telegram", "tasting", "fair", "referral", "instagram", "import"]
TAGS = ["gingembre", "bissap", "citronnelle", "tontine", "mariage", "fin d'année", "coffret", "revendeur", "bio",
        "enfants", "fidèle", "liqueur", "dégustation"]
NOTES = ["Aime le sirop de bissap, pas trop sucré.", "Demande un coffret pour un mariage en décembre.",
         "Préfère être contactée le soir après 18 h.", "A signalé une bouteille abîmée, remplacée.",
         "Revend au marché Mokolo, veut un prix de gros.", "Offre nos liqueurs à sa tontine chaque mois.",
         "Cherche des produits sans conservateur pour les enfants.", "A goûté le gingembre au salon, a adoré.",
         "Paie toujours par Orange Money.", "Veut être livrée au bureau à Bonanjo."]
SEGMENTS = [Segment.HOST, Segment.HEALTHY, Segment.RESELLER, Segment.UNKNOWN]
STAGES = [(LifecycleStage.SUSPECT, 30), (LifecycleStage.PROSPECT, 30), (LifecycleStage.CUSTOMER, 20),
          (LifecycleStage.REPEAT_CUSTOMER, 10), (LifecycleStage.AMBASSADOR, 4), (LifecycleStage.INACTIVE, 6)]
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        number = f"+2376{rng.choice('56789')}{rng.randrange(10**7):07d}"
        if number not in used:
            used.add(number)
            return number


def seed_contacts(*, rng: random.Random, stdout: Any = None, count: int = 2000) -> str:
    """Create ``count`` contacts (plus ~40 near-duplicates), their tags, notes, consents and tasks."""
    used: set[str] = {p for p in Contact.objects.exclude(phone=None).values_list("phone", flat=True) if p}
    contacts, created_at = _people(rng, used, count)
    _add_twins(rng, used, contacts, created_at, count)
    Contact.objects.bulk_create(contacts, batch_size=500)
    for contact, at in zip(contacts, created_at, strict=True):
        contact.created_at = at
    Contact.objects.bulk_update(contacts, ["created_at"], batch_size=500)
    links = _seed_tags(rng, contacts)
    notes, consents, tasks = _seed_records(rng, contacts, created_at)
    return (f"{len(contacts)} contacts ({len(contacts) - count} near-duplicates), {links} tags, "
            f"{notes} notes, {consents} consents, {tasks} tasks")


def _people(rng: random.Random, used: set[str], count: int) -> tuple[list[Contact], list[Any]]:
    """``count`` made-up people (unsaved) and the time each was met."""
    now = timezone.now()
    emails_used: set[str] = set()
    cities = list(CITIES)
    contacts: list[Contact] = []
    created_at: list[Any] = []
    for _ in range(count):
        female = rng.random() < 0.6
        first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        last = rng.choice(LAST_NAMES)
        city = rng.choices(cities, CITY_WEIGHTS)[0]
        phone = _phone(rng, used)
        email = None
        if rng.random() < 0.35:
            base = f"{first}.{last}".lower().replace(" ", "").replace("ï", "i").replace("é", "e").replace("è", "e")
            candidate = f"{base}{rng.randrange(100)}@example.cm"
            if candidate not in emails_used:
                emails_used.add(candidate)
                email = candidate
        segment = rng.choices(SEGMENTS, [35, 35, 15, 15])[0]
        contacts.append(Contact(
            name=f"{first} {last}", first_name=first, last_name=last, salutation="Mme" if female else "M.",
            phone=phone, whatsapp=phone if rng.random() < 0.8 else None, email=email,
            telegram_username=f"{first.lower()}_{rng.randrange(1000)}" if rng.random() < 0.1 else "",
            city=city, neighbourhood=rng.choice(CITIES[city]), segment=segment,
            lifecycle_stage=rng.choices([s for s, _ in STAGES], [w for _, w in STAGES])[0],
            acquisition_channel=rng.choice(CHANNELS), self_reported_source=rng.choice(SOURCES),
            referral_code="".join(rng.choice(_CODE_ALPHABET) for _ in range(8)),
            preferred_channel=rng.choice([Channel.WHATSAPP, Channel.WHATSAPP, Channel.PHONE, Channel.TELEGRAM, ""]),
            preferred_hours_start=time(18, 0) if rng.random() < 0.3 else None,
            preferred_hours_end=time(21, 0) if rng.random() < 0.3 else None,
            last_verified_at=now - timedelta(days=rng.randrange(30, 500)) if rng.random() < 0.6 else None,
            last_seen_at=now - timedelta(days=rng.randrange(0, 300)) if rng.random() < 0.7 else None,
        ))
        created_at.append(now - timedelta(days=rng.randrange(1, 730), minutes=rng.randrange(1440)))
    return contacts, created_at


def _add_twins(rng: random.Random, used: set[str], contacts: list[Contact], created_at: list[Any],
               count: int) -> None:
    """Near-duplicates: the same person met twice (a fair, then WhatsApp; a new number)."""
    now = timezone.now()
    for i in range(40):
        original = contacts[rng.randrange(count)]
        twin = Contact(name=original.name, first_name=original.first_name, last_name=original.last_name,
                       city=original.city, segment=Segment.UNKNOWN,
                       acquisition_channel=rng.choice(["fair", "whatsapp"]), self_reported_source=rng.choice(SOURCES),
                       referral_code="".join(rng.choice(_CODE_ALPHABET) for _ in range(8)))
        if i % 2 == 0:
            twin.phone = _phone(rng, used)  # same name and city, another number
        else:
            twin.whatsapp = original.phone  # registered again through WhatsApp only
            twin.name = original.first_name  # …with just a first name
            twin.telegram_chat_id = str(5_000_000_000 + i)
        contacts.append(twin)
        created_at.append(now - timedelta(days=rng.randrange(1, 60)))


def _seed_tags(rng: random.Random, contacts: list[Contact]) -> int:
    """Up to three tags per contact; returns how many links."""
    tags = {name: tag for name in TAGS for tag in [Tag.objects.get_or_create(name=name)[0]]}
    through = Contact.tags.through
    links = []
    for contact in contacts:
        for name in rng.sample(TAGS, rng.choice([0, 1, 1, 2, 3])):
            links.append(through(contact_id=contact.pk, tag_id=tags[name].pk))
    through.objects.bulk_create(links, ignore_conflicts=True, batch_size=1000)
    return len(links)


def _seed_records(rng: random.Random, contacts: list[Contact], created_at: list[Any]) -> tuple[int, int, int]:
    """Notes, WhatsApp consents (with their timeline events) and a few tasks; returns their counts."""
    now = timezone.now()
    staff = get_user_model().objects.filter(is_staff=True).order_by("pk").first()
    notes, events, consents, tasks = [], [], [], []
    for contact, at in zip(contacts, created_at, strict=True):
        if rng.random() < 0.4:
            text = rng.choice(NOTES)
            noted = at + timedelta(days=rng.randrange(0, 30))
            notes.append(ContactNote(contact_id=contact.pk, author=staff, text=text))
            events.append(ContactEvent(contact_id=contact.pk, at=noted, kind="note", summary=text))
        if contact.whatsapp and rng.random() < 0.7:
            granted = at + timedelta(hours=1)
            revoked = granted + timedelta(days=40) if rng.random() < 0.05 else None
            consents.append(Consent(contact_id=contact.pk, channel=Channel.WHATSAPP, granted_at=granted,
                                    granted_how=rng.choice(["formulaire dégustation", "message WhatsApp", "salon"]),
                                    revoked_at=revoked, revoked_how="STOP" if revoked else ""))
            events.append(ContactEvent(contact_id=contact.pk, at=granted, kind="consent_granted",
                                       summary="Consent granted on whatsapp", data={"channel": "whatsapp"}))
        if staff is not None and rng.random() < 0.02:
            tasks.append(FollowUpTask(contact_id=contact.pk, owner=staff, created_by=staff,
                                      kind=rng.choice(["call", "visit", "sample"]),
                                      due_at=now + timedelta(hours=rng.randrange(-48, 96)),
                                      note="Relancer pour les coffrets de fin d'année"))
    ContactNote.objects.bulk_create(notes, batch_size=1000)
    ContactEvent.objects.bulk_create(events, batch_size=1000)
    Consent.objects.bulk_create(consents, batch_size=1000)
    FollowUpTask.objects.bulk_create(tasks)
    return len(notes), len(consents), len(tasks)
