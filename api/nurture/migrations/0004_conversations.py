# The staff inbox: one conversation per contact across channels (owner, done, read, answered marks).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Max


def conversations_backfill(apps, schema_editor):
    """A conversation for every contact who already wrote, with what they wrote so far counted as read
    and answered: the inbox starts from the messages that come after it was installed."""
    InboundMessage = apps.get_model("nurture", "InboundMessage")
    Conversation = apps.get_model("nurture", "Conversation")
    rows = (InboundMessage.objects.filter(contact__isnull=False).values("contact_id")
            .annotate(last_id=Max("id")).order_by("contact_id"))
    batch = [Conversation(contact_id=row["contact_id"], last_read_inbound_id=row["last_id"],
                          answered_inbound_id=row["last_id"]) for row in rows.iterator()]
    Conversation.objects.bulk_create(batch, batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contacts', '0004_importjob_skipped_count'),
        ('nurture', '0003_inbound_messages'),
    ]

    operations = [
        migrations.CreateModel(
            name='Conversation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(choices=[('open', 'Open'), ('done', 'Done (a new message from the person reopens it)')], default='open', max_length=10)),
                ('last_read_inbound_id', models.BigIntegerField(default=0, help_text='Inbound messages up to this id are read.')),
                ('answered_inbound_id', models.BigIntegerField(default=0, help_text='Inbound messages up to this id are answered (or done).')),
                ('done_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('contact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='nurture_conversations', to='contacts.contact')),
                ('owner', models.ForeignKey(blank=True, help_text='The staff member who looks after it.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['state', 'owner'], name='conversation_state_owner_idx')],
            },
        ),
        migrations.RunPython(conversations_backfill, migrations.RunPython.noop),
    ]
