"""Runbook permissions for the two groups, and the sweeper schedule for stuck runs."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from core.migration_helpers import schedule_every

AUTHOR = [
    f"{verb}_{model}"
    for model in ("runbook", "runbookstep")
    for verb in ("view", "add", "change", "delete")
] + ["view_runbookrun", "change_runbookrun", "view_stepresult"]
# Analysts read runbooks and may resume a failed run or cancel a waiting one.
ANALYST = ["view_runbook", "view_runbookstep", "view_runbookrun", "change_runbookrun",
           "view_stepresult"]  # fmt: skip


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, codenames in (("Runbook author", AUTHOR), ("SOC analyst", ANALYST)):
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="runbooks", codename__in=codenames)
        )
    schedule_every(
        apps,
        name="Resume runbook runs left behind by a crash",
        func="runbooks.tasks.sweep_runs",
        minutes=1,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("runbooks", "0001_initial"),
        ("incidents", "0002_seed"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
