"""Identities as rows: every phone, WhatsApp number and e-mail of a live contact, each with one owner.

The data step fills the table from the contacts' own fields, oldest contact first. Old data may hold
one WhatsApp number on several live contacts (nothing forbade it): the oldest keeps it as an identity;
the others keep the number in their ``whatsapp`` field (nothing is erased) but not as an identity, get
a timeline event saying so, and are listed in the migration's output for staff to merge. The step
never fails on such data: a value already owned is skipped, not inserted.
"""

from __future__ import annotations

import sys
from typing import Any

import django.db.models.deletion
from django.db import migrations, models

_CHUNK = 2000
_REPORT_LINES = 50  # the first duplicates are printed one per line, the rest counted


def identities_fill(apps: Any, schema_editor: Any, out: Any = None) -> dict[str, Any]:
    """Create the identity rows of every live contact; returns ``{"created": n, "duplicates": [...]}``
    where each duplicate is ``(kind, value, kept_contact_id, other_contact_id)``.

    ``out``: where the report goes (stdout by default). Idempotent: values already in the table keep
    their owner, so a second run creates nothing and reports the same duplicates.
    """
    out = out or sys.stdout
    Contact = apps.get_model("contacts", "Contact")
    ContactIdentity = apps.get_model("contacts", "ContactIdentity")
    ContactEvent = apps.get_model("contacts", "ContactEvent")
    alias = schema_editor.connection.alias if schema_editor is not None else "default"

    owner: dict[tuple[str, str], int] = {
        (k, v): c for k, v, c in ContactIdentity.objects.using(alias).values_list("kind", "value", "contact_id")}
    duplicates: list[tuple[str, str, int, int]] = []
    created = 0
    batch: list[Any] = []
    live = (Contact.objects.using(alias).filter(merged_into__isnull=True, erased_at__isnull=True)
            .order_by("created_at", "id").values_list("id", "phone", "whatsapp", "email"))
    for contact_id, phone, whatsapp, email in live.iterator(chunk_size=_CHUNK):
        for kind, value in (("phone", phone), ("whatsapp", whatsapp), ("email", (email or "").strip().lower())):
            if not value:
                continue
            held_by = owner.get((kind, value))
            if held_by is None:
                owner[(kind, value)] = contact_id
                batch.append(ContactIdentity(contact_id=contact_id, kind=kind, value=value))
            elif held_by != contact_id:
                duplicates.append((kind, value, held_by, contact_id))
        if len(batch) >= _CHUNK:
            ContactIdentity.objects.using(alias).bulk_create(batch, ignore_conflicts=True)
            created += len(batch)
            batch = []
    if batch:
        ContactIdentity.objects.using(alias).bulk_create(batch, ignore_conflicts=True)
        created += len(batch)

    if duplicates:
        from django.utils import timezone

        now = timezone.now()
        ContactEvent.objects.using(alias).bulk_create([
            ContactEvent(contact_id=other, at=now, kind="identity_duplicate",
                         summary=f"{kind} {value} also belongs to contact #{kept} (older): not an identity of this "
                                 "contact any more; merge them if they are one person.",
                         data={"kind": kind, "value": value, "owner_id": kept})
            for kind, value, kept, other in duplicates], batch_size=_CHUNK)
        out.write(f"\n  Identities: {len(duplicates)} value(s) held by several live contacts; the oldest keeps each:\n")
        for kind, value, kept, other in duplicates[:_REPORT_LINES]:
            out.write(f"    {kind} {value}: kept by #{kept}, not an identity of #{other}\n")
        if len(duplicates) > _REPORT_LINES:
            out.write(f"    … and {len(duplicates) - _REPORT_LINES} more (timeline event 'identity_duplicate')\n")
    return {"created": created, "duplicates": duplicates}


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0004_importjob_skipped_count'),
    ]

    operations = [
        migrations.CreateModel(
            name='ContactIdentity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('phone', 'Phone'), ('whatsapp', 'WhatsApp'), ('email', 'E-mail')], max_length=10)),
                ('value', models.CharField(help_text='E.164 for numbers, lower case for e-mails.', max_length=254)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='identities', to='contacts.contact')),
            ],
            options={
                'ordering': ['kind', 'id'],
                'constraints': [models.UniqueConstraint(fields=('kind', 'value'), name='contactidentity_unique_kind_value')],
            },
        ),
        migrations.RunPython(identities_fill, migrations.RunPython.noop, elidable=True),
    ]
