"""Analysts and runbook authors read inbound email in the admin (read-only)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAMES = ["view_inboundemail"]


def forwards(apps, schema_editor):
    # Permissions are created after all migrations ran; this one needs them now.
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


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(
        content_type__app_label="mailflow", codename__in=CODENAMES
    )
    for group in Group.objects.filter(name__in=("SOC analyst", "Runbook author")):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0004_inbound_email")]

    operations = [migrations.RunPython(forwards, backwards)]
