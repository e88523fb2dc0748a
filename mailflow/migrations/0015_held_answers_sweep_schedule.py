"""Schedule the sweep for held answers whose one-off check was lost (every 5 minutes)."""

from django.db import migrations

from core.migration_helpers import add_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("mailflow", "0014_answer_review_task"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        add_schedule(
            name="Make tasks of held answers nobody confirmed",
            func="mailflow.tasks.sweep_held_answers",
            minutes=5,
        )
    ]
