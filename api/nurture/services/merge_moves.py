"""What nurture moves when two contacts are merged (a merge hook of the contacts registry).

Rows that a plain ``UPDATE … SET contact = target`` moves (outbound and inbound messages, score events)
are registered relations; this module handles what needs a decision:

- the nurture profile, one per contact: combined into the survivor's;
- the active enrollments of the merged-away contact, which may collide with the survivor's.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from api.nurture.models import Enrollment, NurtureProfile
from api.nurture.services.sequences import enrollment_stop

MERGE_STOP_REASON = "merged: the other contact already follows this sequence"


def nurture_merge_moves(*, target_id: int, source_id: int) -> dict[str, int]:
    """Fold the nurture state of contact ``source_id`` into ``target_id`` (called inside the merge
    transaction, after the registered relations moved); returns counts for the merge record.

    Profile (``NurtureProfile``):

    - ``frequency``: "monthly only" when either person chose it (a choice they made is not undone by a
      merge the person never saw);
    - ``lead_score``: the **sum** of both scores. The score is the sum of the person's score events,
      and their score events (each counted once by its ``ref``) all move to the survivor, so the sum
      keeps score and events in agreement; keeping the higher would drop points the timeline shows;
    - ``matured_at``: the earlier one;
    - ``replenishment_due_at`` (predicted reorder date): the earliest one still to come; when both are
      past, the later one (the next plan recomputes it from the orders, which moved too).

    Enrollments: an active enrollment of the source moves to the survivor unless the survivor already
    follows that sequence (active) or already went through it for the same trigger (the unique key);
    then it is stopped and its queued messages cancelled, so the person does not get the sequence
    twice. Finished enrollments stay with the tombstone, as history.
    """
    profiles = {p.contact_id: p for p in NurtureProfile.objects.select_for_update()
                .filter(contact_id__in=[target_id, source_id])}
    source_profile, target_profile = profiles.get(source_id), profiles.get(target_id)
    merged_profiles = 0
    if source_profile is not None and target_profile is None:
        NurtureProfile.objects.filter(pk=source_profile.pk).update(contact_id=target_id)
        merged_profiles = 1
    elif source_profile is not None and target_profile is not None:
        _profile_fold(target_profile, source_profile)
        merged_profiles = 1

    moved, stopped = 0, 0
    for enrollment in Enrollment.objects.select_for_update().filter(contact_id=source_id,
                                                                   state=Enrollment.State.ACTIVE).order_by("pk"):
        taken = Enrollment.objects.filter(contact_id=target_id, sequence_id=enrollment.sequence_id).filter(
            state=Enrollment.State.ACTIVE).exists() or Enrollment.objects.filter(
            contact_id=target_id, sequence_id=enrollment.sequence_id, trigger_ref=enrollment.trigger_ref).exists()
        if taken:
            enrollment_stop(enrollment_id=enrollment.pk, reason=MERGE_STOP_REASON)
            stopped += 1
        else:
            Enrollment.objects.filter(pk=enrollment.pk).update(contact_id=target_id)
            moved += 1
    return {"nurture_profile": merged_profiles, "nurture_enrollments": moved,
            "nurture_enrollments_stopped": stopped}


def _profile_fold(target: NurtureProfile, source: NurtureProfile) -> None:
    """Combine ``source`` into ``target`` (rules in ``nurture_merge_moves``) and delete ``source``."""
    now = timezone.now()
    if NurtureProfile.Frequency.MONTHLY in (target.frequency, source.frequency):
        target.frequency = NurtureProfile.Frequency.MONTHLY
    target.lead_score = target.lead_score + source.lead_score
    target.matured_at = _earliest(target.matured_at, source.matured_at)
    target.replenishment_due_at = reorder_date_kept(target.replenishment_due_at, source.replenishment_due_at,
                                                    now=now)
    source.delete()
    target.save()


def reorder_date_kept(a: datetime | None, b: datetime | None, *, now: datetime) -> datetime | None:
    """Of two predicted reorder dates, the earliest still to come (``>= now``); when none is, the later."""
    coming = [d for d in (a, b) if d is not None and d >= now]
    if coming:
        return min(coming)
    return _latest(a, b)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    values = [d for d in (a, b) if d is not None]
    return min(values) if values else None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    values = [d for d in (a, b) if d is not None]
    return max(values) if values else None
