"""Lead score: points per interaction, once per reference; crossing the threshold makes a prospect "mature"."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from api.common.errors import NotFoundError
from api.contacts.enums import LifecycleStage
from api.contacts.selectors import contact_find
from api.contacts.services import contact_event_record
from api.nurture import conf
from api.nurture.models import NurtureProfile, ScoreEvent
from api.nurture.services.outbox import staff_notify

# Only people who have not bought yet can become "mature" (ready for a personal call).
_MATURING_STAGES = (LifecycleStage.SUSPECT, LifecycleStage.PROSPECT)


def nurture_profile_get(contact_id: int) -> NurtureProfile:
    """The contact's nurture preferences and score (the row is created on first use)."""
    profile, _ = NurtureProfile.objects.get_or_create(contact_id=contact_id)
    return profile


def lead_score_record(*, contact_id: int, kind: str, ref: str, points: int | None = None) -> int:
    """Add the points of ``kind`` to the contact's lead score, once per ``ref``; returns the new score.

    Crossing ``NURTURE_MATURE_THRESHOLD`` marks a suspect or prospect mature (once): a timeline
    event and a staff notification. Other apps call this for link clicks, tastings, feedback.
    The score moves by an atomic ``F()`` update, so concurrent calls add up.
    """
    value = conf.score_points().get(kind, 0) if points is None else points
    with transaction.atomic():
        try:
            with transaction.atomic():
                ScoreEvent.objects.create(contact_id=contact_id, kind=kind[:40], points=value, ref=ref[:120])
        except IntegrityError:
            return nurture_profile_get(contact_id).lead_score
        profile = nurture_profile_get(contact_id)
        NurtureProfile.objects.filter(pk=profile.pk).update(lead_score=F("lead_score") + value)
        profile.refresh_from_db()
        contact = contact_find(contact_id)
        if contact is None:
            raise NotFoundError(f"No contact #{contact_id}.")
        if (profile.matured_at is None and profile.lead_score >= conf.get("NURTURE_MATURE_THRESHOLD")
                and contact.lifecycle_stage in _MATURING_STAGES):
            profile.matured_at = timezone.now()
            profile.save(update_fields=["matured_at", "updated_at"])
            contact_event_record(contact_id=contact_id, kind="matured",
                                 summary=f"Prospect mûr : score {profile.lead_score}",
                                 data={"score": profile.lead_score})
            staff_notify(key=f"mature:{contact_id}",
                         text=f"🌟 Prospect mûr : {contact.display_name} (#{contact_id}), score {profile.lead_score}. "
                              "À contacter personnellement.")
    return profile.lead_score
