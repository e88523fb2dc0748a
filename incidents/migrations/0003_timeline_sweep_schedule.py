"""Schedule the sweeper that dispatches timeline entries a crash left undispatched."""

from django.db import migrations

from core.migration_helpers import add_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0002_seed"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        add_schedule(
            name="Dispatch timeline entries left behind by a crash",
            func="incidents.tasks.sweep_timeline",
            minutes=1,
            removed_on_reverse=False,
        )
    ]
