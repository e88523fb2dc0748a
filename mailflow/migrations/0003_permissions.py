"""Analysts and runbook authors read questions, answers and delivery events (read-only)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["view_confirmationrequest", "view_answer", "view_trackingevent"]


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="mailflow", codename__in=CODENAMES
    )
    for name in ("SOC analyst", "Runbook author"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0002_schedule"), ("incidents", "0002_seed")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
