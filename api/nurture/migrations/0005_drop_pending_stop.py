"""Drop ``NurtureProfile.stop_offered_at``, the "STOP pending" of the old two-step flow.

STOP now revokes consent on its channel at once (``services.inbound``). A person who sent STOP under
the old flow and never answered its question still has a pending mark and an active consent; the old
dispatcher skipped their marketing. The mark did not say on which channel they wrote, so their
marketing consents are revoked on every channel, dated when they asked: they asked to stop, and
"one message a month" stays their way back in.
"""

from django.db import migrations


def revoke_pending_stops(apps, schema_editor):
    NurtureProfile = apps.get_model("nurture", "NurtureProfile")
    Consent = apps.get_model("contacts", "Consent")
    pending = NurtureProfile.objects.filter(stop_offered_at__isnull=False, frequency="normal")
    for contact_id, asked_at in pending.values_list("contact_id", "stop_offered_at").iterator():
        Consent.objects.filter(contact_id=contact_id, revoked_at__isnull=True).update(
            revoked_at=asked_at, revoked_how="STOP (réponse en attente, ancien parcours)")


class Migration(migrations.Migration):

    dependencies = [
        ("contacts", "0005_contactidentity"),
        ("nurture", "0004_conversations"),
    ]

    operations = [
        migrations.RunPython(revoke_pending_stops, migrations.RunPython.noop),
        migrations.RemoveField(model_name="nurtureprofile", name="stop_offered_at"),
    ]
