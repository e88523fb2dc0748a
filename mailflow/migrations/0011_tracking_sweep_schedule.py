"""Schedule the sweep for delivery events left unprocessed (every 5 minutes, no catch-up)."""

from django.db import migrations

from core.migration_helpers import add_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("mailflow", "0010_local_mailbox_permission"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        add_schedule(
            name="Process delivery events left unprocessed",
            func="mailflow.tasks.sweep_tracking_events",
            minutes=5,
        )
    ]
