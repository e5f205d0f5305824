"""Follow-up tasks of the salespeople."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from api.common.businesstime import business_today, day_bounds
from api.common.errors import ApplicationError, field_error
from api.contacts.models import FollowUpTask


def tasks_list(*, user: Any, mine: bool = False, due: str | None = None, done: bool | None = None,
               contact_id: int | None = None) -> QuerySet[FollowUpTask]:
    """Follow-up tasks. ``due``: ``today`` (open tasks due by the end of today, Africa/Douala,
    overdue included: a salesperson's day), ``overdue`` (open, due before now), ``upcoming``
    (open, due after today)."""
    # Prefetched, not joined: a join made PostgreSQL hash every contact before it sorted and cut
    # the tasks (40 ms on 100,000 contacts); a prefetch reads only the contacts of the rows kept.
    qs = FollowUpTask.objects.prefetch_related("contact", "owner")
    if mine:
        qs = qs.filter(owner=user)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    if due:
        _start, end = day_bounds(business_today())
        qs = qs.filter(done_at__isnull=True)
        if due == "today":
            qs = qs.filter(due_at__lt=end)
        elif due == "overdue":
            qs = qs.filter(due_at__lt=timezone.now())
        elif due == "upcoming":
            qs = qs.filter(due_at__gte=end)
        else:
            raise ApplicationError("due must be today, overdue or upcoming.", code="validation_error",
                                   errors=[field_error("due", "Use today, overdue or upcoming.", "invalid_choice")])
    if done is not None:
        qs = qs.filter(done_at__isnull=not done)
    return qs
