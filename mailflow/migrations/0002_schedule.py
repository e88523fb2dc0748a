"""Schedule reminders and deadlines (every minute, no catch-up)."""

from django.db import migrations

from core.migration_helpers import add_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("mailflow", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        add_schedule(
            name="Send reminders and expire unanswered questions",
            func="mailflow.tasks.process_due_requests",
            minutes=1,
            removed_on_reverse=False,
        )
    ]
