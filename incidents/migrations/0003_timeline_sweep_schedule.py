"""Schedule the sweeper that dispatches timeline entries a crash left undispatched."""

from django.db import migrations
from django.utils import timezone


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name="Dispatch timeline entries left behind by a crash",
        defaults={
            "func": "incidents.tasks.sweep_timeline",
            "schedule_type": "I",  # every `minutes`
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_seed"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
