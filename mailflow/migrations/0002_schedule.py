"""Schedule reminders and deadlines (every minute, no catch-up)."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name="Send reminders and expire unanswered questions",
        defaults={
            "func": "mailflow.tasks.process_due_requests",
            "schedule_type": "I",  # every `minutes`
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("mailflow", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
