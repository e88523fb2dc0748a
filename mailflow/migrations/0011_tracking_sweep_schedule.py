"""Schedule the sweep for delivery events left unprocessed (every 5 minutes, no catch-up)."""

from django.db import migrations
from django.utils import timezone

NAME = "Process delivery events left unprocessed"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "mailflow.tasks.sweep_tracking_events",
            "schedule_type": "I",  # every `minutes`
            "minutes": 5,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mailflow", "0010_local_mailbox_permission"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
