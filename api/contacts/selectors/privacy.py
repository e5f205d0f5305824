"""The privacy export: everything stored about a person."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from api.contacts.models import ContactMerge
from api.contacts.registry import contact_relations
from api.contacts.selectors.contacts import contact_get
from api.contacts.selectors.identities import contact_identities

# --- privacy export -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str))


def contact_privacy_export(contact_id: int) -> dict[str, Any]:
    """Everything stored about the person, as JSON-ready data, including what other apps
    registered (``registry.register_contact_relation``) under their label."""
    contact = contact_get(contact_id)
    profile = {f.attname: getattr(contact, f.attname) for f in contact._meta.concrete_fields}
    related: dict[str, Any] = {}
    for relation in contact_relations():
        if relation.exporter is not None:
            related[relation.label] = relation.exporter(contact.pk)
        else:
            related[relation.label] = list(relation.model._default_manager
                                           .filter(**{relation.field_name: contact.pk}).values())
    data = {
        "contact": profile,
        "tags": list(contact.tags.values_list("name", flat=True)),
        "consents": list(contact.consents.values("channel", "granted_at", "granted_how", "revoked_at",
                                                 "revoked_how", "unreachable_at", "unreachable_reason")),
        "notes": list(contact.notes.values("created_at", "text", "author__username")),
        "events": list(contact.events.order_by("at").values("at", "kind", "summary", "data")),
        "tasks": list(contact.tasks.values("kind", "due_at", "note", "outcome", "done_at")),
        "identities": contact_identities(contact.pk),
        "merged_contacts": list(ContactMerge.objects.filter(target=contact).values("created_at", "source_id",
                                                                                   "source_snapshot")),
        "related": related,
        "exported_at": timezone.now(),
    }
    return _jsonable(data)
