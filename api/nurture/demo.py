"""Demo data of the nurture app: the plan's introduction (9 touches), after-sale and monthly sequences,
and a broadcast planned for tomorrow morning."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.common.businesstime import business_today, business_tz
from api.contacts.enums import Segment
from api.nurture.enums import Purpose
from api.nurture.models import Broadcast, Sequence
from api.nurture.services import broadcast_create, sequence_create

_DAY = timedelta(days=1)
INTRODUCTION = [
    (timedelta(hours=1), "Bonjour {first_name} ! Merci de nous suivre. Confiotes, ce sont des sirops, liqueurs et "
                         "coffrets faits ici au Cameroun, sans colorant."),
    (2 * _DAY, "{first_name}, connaissez-vous notre sirop de gingembre ? Un trait dans l'eau fraîche, et c'est la "
               "fête 🍹"),
    (3 * _DAY, "Les coffrets Confiotes font toujours leur effet aux tontines et anniversaires 🎁"),
    (4 * _DAY, "D'où vient notre bissap ? De petits producteurs de l'Ouest, récolté à la main."),
    (4 * _DAY, "Astuce : la liqueur de corossol se sert bien fraîche, en fin de repas."),
    (5 * _DAY, "Ce que disent nos clients : « Le sirop de citronnelle a conquis toute la famille. » — Mme Ngo"),
    (6 * _DAY, "{first_name}, une dégustation près de chez vous ce samedi ? Répondez-nous ici."),
    (7 * _DAY, "Livraison à Douala et Yaoundé, paiement Orange Money ou MTN MoMo à la livraison."),
    (7 * _DAY, "{first_name}, pour votre première commande, -10 % avec le code BIENVENUE. Il suffit de répondre ici."),
]
AFTER_SALE = [
    (2 * _DAY, "{first_name}, votre commande vous a plu ? Répondez avec une note de 1 à 5, ça nous aide beaucoup."),
    (10 * _DAY, "Merci encore {first_name} ! Vos amis ont droit à une remise avec votre code {referral_code}."),
]
MONTHLY = [(timedelta(), "Bonjour {salutation} {first_name}, des nouvelles de Confiotes : ce mois-ci, le sirop de "
                         "goyave est de retour. Besoin de quelque chose ? Répondez simplement ici.")]


def _steps(rows: list[tuple[timedelta, str]]) -> list[dict[str, Any]]:
    return [{"delay": delay, "text": text} for delay, text in rows]


def seed_nurture(*, rng: Any, stdout: Any = None) -> str:
    """Create the demo sequences and broadcast (idempotent: existing ones by name are kept)."""
    made = []
    for name, purpose, rows in (("Introduction (9 touches)", Purpose.INTRODUCTION, INTRODUCTION),
                                ("Après-vente : avis et parrainage", Purpose.AFTER_SALE, AFTER_SALE),
                                ("Message personnel du mois", Purpose.MONTHLY, MONTHLY)):
        if not Sequence.objects.filter(name=name).exists():
            sequence_create(name=name, purpose=purpose, steps=_steps(rows), stop_on_order=purpose != Purpose.AFTER_SALE)
            made.append(name)
    if not Broadcast.objects.filter(name="Coffrets de fin d'année").exists():
        tz = business_tz()
        tomorrow = business_today() + _DAY
        broadcast_create(name="Coffrets de fin d'année", text="{first_name}, nos coffrets de fin d'année sont "
                         "arrivés 🎁 Réservez le vôtre en répondant ici.", audience={"segment": [Segment.HOST, Segment.RESELLER]},
                         send_at=datetime.combine(tomorrow, datetime.min.time().replace(hour=10), tzinfo=tz))
        made.append("broadcast")
    return f"{len(made)} created ({', '.join(made) or 'already there'})"
