"""SOC analysts may act on a waiting question (withdraw, send again, extend the deadline,
end it as no answer). No admin edits requests; change_confirmationrequest only unlocks
those buttons."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CODENAME = "change_confirmationrequest"


def _permission(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="mailflow", codename=CODENAME)


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name="SOC analyst")
    group.permissions.add(_permission(apps))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="SOC analyst"):
        group.permissions.remove(_permission(apps))


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0017_resent_email")]

    operations = [migrations.RunPython(forwards, backwards)]
