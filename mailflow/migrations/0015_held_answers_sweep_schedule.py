"""Schedule the sweep for held answers whose one-off check was lost (every 5 minutes)."""

from django.db import migrations
from django.utils import timezone

NAME = "Make tasks of held answers nobody confirmed"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "mailflow.tasks.sweep_held_answers",
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
        ("mailflow", "0014_answer_review_task"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
