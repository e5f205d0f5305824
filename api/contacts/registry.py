"""How other apps plug into contacts without the contacts app importing them.

Three registries, filled from each app's ``AppConfig.ready()``:

* ``register_contact_relation(model, field_name, *, label, exporter=None, eraser=None)``:
  rows of ``model`` whose foreign key ``field_name`` points to a contact

  - are moved by a merge: ``UPDATE model SET field_name = target WHERE field_name = source``
    (inside the merge transaction; a unique constraint that would break makes the merge a 409);
  - are included in the privacy export (``GET /contacts/{id}/export``) under ``label``:
    by default every column of each row (``.values()``), or what ``exporter(contact_id)``
    returns (a list of JSON-serialisable dicts);
  - on erase, ``eraser(contact_id)`` is called when given, to anonymise what the app keeps
    (e.g. orders keep amounts, drop addresses). Without an eraser the rows stay and point to
    the anonymised contact.

* ``register_timeline_source(name, fn)`` where
  ``fn(contact_id: int, before: datetime | None, limit: int) -> list[TimelineEvent]``
  returns up to ``limit`` events of that contact with ``at <= before`` (all when ``before``
  is None), newest first. ``before`` is inclusive so that events sharing the timestamp of
  the page boundary are not lost; the timeline drops those already shown using the
  tie-breaker ``(at, source, ref)``, so ``ref`` must be unique within a source and should
  sort like the source's own order for equal ``at`` (zero-padded ids do).

* ``register_contact_grouping(ContactGrouping(name, label, choices, contact_ids))``: a way to
  group contacts that another app computes (the RFM groups of attribution). ``name`` becomes a
  filter of the contact list and its CSV export (``?rfm_group=champions``, repeatable) and a key
  of nurture audiences (``{"rfm_group": ["at_risk"]}``); ``contact_ids(values)`` returns a
  queryset of contact ids (``.values("contact_id")``) used as a subquery.

* ``register_merge_hook(name, fn)`` where ``fn(*, target_id: int, source_id: int) -> dict[str, int] | None``
  runs inside the merge transaction, after the rows of registered relations moved: what a plain
  ``UPDATE`` cannot move (a one-per-contact profile to combine, enrollments that may collide, a stage to
  recompute). The counts it returns go into the merge record's ``moved`` under their keys. An
  ``ApplicationError`` it raises undoes the merge.

* ``register_contact_attribute(ContactAttribute(name, label, values, contact_ids))``: a dated value
  another app keeps about a contact (nurture's predicted reorder date) shown in the contact's API under
  ``attributes[name]`` and offered as the list filters ``<filter_prefix>_before`` / ``_after``.
  ``values(contact_ids) -> {contact_id: datetime}`` (one query for a page of contacts);
  ``contact_ids(before, after)`` returns a ``.values("contact_id")`` subquery of the contacts whose
  value is in ``[after, before)`` (either bound may be None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models

# What an eraser leaves in place of a person's own words (a complaint, a message): the back office shows
# it in its language.
ERASED_TEXT = "(erased)"


@dataclass(frozen=True)
class ContactRelation:
    model: type[models.Model]
    field_name: str
    label: str
    exporter: Callable[[int], list[dict[str, Any]]] | None = None
    eraser: Callable[[int], None] | None = None


@dataclass(frozen=True)
class TimelineEvent:
    """One line of a contact's timeline, whatever app it comes from."""

    at: datetime
    kind: str
    summary: str
    source: str
    ref: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[datetime, str, str]:
        return (self.at, self.source, self.ref)


TimelineSource = Callable[[int, datetime | None, int], list[TimelineEvent]]


@dataclass(frozen=True)
class ContactGrouping:
    """Groups of contacts computed by another app, offered as a list filter and an audience key."""

    name: str
    label: str
    choices: list[tuple[str, str]]
    contact_ids: Callable[[list[str]], Any]


@dataclass(frozen=True)
class ContactAttribute:
    """A dated value another app keeps about a contact, shown in the contact's API and filterable."""

    name: str
    filter_prefix: str
    label: str
    values: Callable[[list[int]], dict[int, datetime]]
    contact_ids: Callable[[datetime | None, datetime | None], Any]


MergeHook = Callable[..., "dict[str, int] | None"]

_RELATIONS: dict[tuple[str, str], ContactRelation] = {}
_MERGE_HOOKS: dict[str, MergeHook] = {}
_ATTRIBUTES: dict[str, ContactAttribute] = {}
_GROUPINGS: dict[str, ContactGrouping] = {}
_TIMELINE_SOURCES: dict[str, TimelineSource] = {}


def register_contact_relation(
    model: type[models.Model],
    field_name: str,
    *,
    label: str,
    exporter: Callable[[int], list[dict[str, Any]]] | None = None,
    eraser: Callable[[int], None] | None = None,
) -> None:
    """Declare that ``model.field_name`` is a foreign key to a contact (see the module docstring).

    Registering the same ``(model, field_name)`` twice replaces the first entry, so a
    reloaded ``ready()`` is harmless.
    """
    model._meta.get_field(field_name)  # fail at start-up on a typo, not during a merge
    _RELATIONS[(model._meta.label_lower, field_name)] = ContactRelation(model, field_name, label, exporter, eraser)


def contact_relations() -> list[ContactRelation]:
    return list(_RELATIONS.values())


def unregister_contact_relation(model: type[models.Model], field_name: str) -> None:
    """For tests."""
    _RELATIONS.pop((model._meta.label_lower, field_name), None)


def register_timeline_source(name: str, fn: TimelineSource) -> None:
    """Add ``fn`` as the timeline source ``name`` (replaces an earlier source of that name)."""
    _TIMELINE_SOURCES[name] = fn


def unregister_timeline_source(name: str) -> None:
    """For tests."""
    _TIMELINE_SOURCES.pop(name, None)


def timeline_sources() -> dict[str, TimelineSource]:
    return dict(_TIMELINE_SOURCES)


def register_contact_grouping(grouping: ContactGrouping) -> None:
    """Offer ``grouping`` as a contact-list filter and a nurture audience key."""
    # A cycle broken here: filters imports this module for ``ContactGrouping`` (and the selectors,
    # which import the registry); groupings are registered from ``ready()``, long after both loaded.
    from api.contacts.filters import add_grouping_filter

    _GROUPINGS[grouping.name] = grouping
    add_grouping_filter(grouping)


def contact_groupings() -> dict[str, ContactGrouping]:
    return dict(_GROUPINGS)


def register_merge_hook(name: str, fn: MergeHook) -> None:
    """Run ``fn(target_id=, source_id=)`` in every merge after the relations moved (see the module docstring);
    hooks run in the order they were registered, a second registration of ``name`` replaces the first."""
    _MERGE_HOOKS[name] = fn


def unregister_merge_hook(name: str) -> None:
    """For tests."""
    _MERGE_HOOKS.pop(name, None)


def merge_hooks() -> dict[str, MergeHook]:
    return dict(_MERGE_HOOKS)


def register_contact_attribute(attribute: ContactAttribute) -> None:
    """Show ``attribute`` in the contact's API (``attributes``) and add its two date filters to the list."""
    # A cycle broken here, as for groupings: filters import this module.
    from api.contacts.filters import add_attribute_filters

    _ATTRIBUTES[attribute.name] = attribute
    add_attribute_filters(attribute)


def contact_attributes() -> dict[str, ContactAttribute]:
    return dict(_ATTRIBUTES)
