"""Follow-up tasks of staff on a contact: call, visit, send a sample."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from api.common.errors import NotFoundError
from api.contacts.models import FollowUpTask
from api.contacts.services._base import check_choice, contact_resolve, event_add


def task_create(*, contact_id: int, kind: str, due_at: datetime, owner: Any = None, note: str = "",
                created_by: Any = None) -> FollowUpTask:
    """Create a follow-up task (call, visit, send a sample) on a contact; owner defaults to the creator."""
    check_choice("kind", kind, FollowUpTask.Kind.values)
    with transaction.atomic():
        contact = contact_resolve(contact_id, lock=False)
        task = FollowUpTask(contact=contact, kind=kind, due_at=due_at, note=note,
                            owner=owner or created_by, created_by=created_by)
        task.full_clean()
        task.save()
    return task


def task_update(*, task_id: int, outcome: str | None = None, done: bool | None = None,
                due_at: datetime | None = None, owner: Any = None, note: str | None = None,
                kind: str | None = None) -> FollowUpTask:
    """Update a task; ``done=True`` stamps ``done_at`` (once) and records the outcome on the timeline."""
    check_choice("kind", kind, FollowUpTask.Kind.values)
    with transaction.atomic():
        task = FollowUpTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            raise NotFoundError(f"No task #{task_id}.")
        for field, value in (("outcome", outcome), ("due_at", due_at), ("note", note), ("kind", kind),
                             ("owner", owner)):
            if value is not None:
                setattr(task, field, value)
        finished = done is True and task.done_at is None
        if done is True and task.done_at is None:
            task.done_at = timezone.now()
        elif done is False:
            task.done_at = None
        task.save()
        if finished:
            event_add(task.contact_id, "task_done", f"{task.get_kind_display()} done: {task.outcome or '-'}"[:500],
                   {"task_id": task.pk})
    return task

