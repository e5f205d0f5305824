# The inbound pipeline: every message a person sends on Telegram, WhatsApp or Messenger, kept once.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0004_importjob_skipped_count'),
        ('nurture', '0002_templates_and_delivery_statuses'),
    ]

    operations = [
        migrations.CreateModel(
            name='InboundMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel', models.CharField(max_length=20)),
                ('sender', models.CharField(help_text='Chat id, PSID or E.164 number it came from.', max_length=64)),
                ('provider_message_id', models.CharField(max_length=200)),
                ('kind', models.CharField(choices=[('text', 'Text'), ('button', 'Button tapped (inline button, reply button, list row, quick reply)'), ('start', 'Bot start (/start)'), ('referral', 'Opened the conversation from a link or an ad'), ('postback', 'Postback (Messenger menu or Get Started)'), ('other', 'Other (media without caption, unsupported)')], default='text', max_length=10)),
                ('text', models.TextField(blank=True)),
                ('payload', models.CharField(blank=True, help_text='Tapped button id, postback payload, /start payload or m.me ref.', max_length=300)),
                ('action', models.CharField(blank=True, help_text='welcome, question, stop, monthly, source, referral or postback.', max_length=20)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('occurred_at', models.DateTimeField(help_text="When the person wrote (the provider's time).")),
                ('received_at', models.DateTimeField(auto_now_add=True)),
                ('contact', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='nurture_inbound_messages', to='contacts.contact')),
            ],
            options={
                'ordering': ['-occurred_at', '-id'],
                'indexes': [models.Index(fields=['contact', 'occurred_at'], name='inbound_contact_time_idx')],
                'constraints': [models.UniqueConstraint(fields=('channel', 'provider_message_id'), name='inbound_unique_provider_id')],
            },
        ),
    ]
