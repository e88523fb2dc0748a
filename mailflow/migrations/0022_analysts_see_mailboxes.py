"""SOC analysts may read the Mailboxes page: when replies stop arriving, its status (last
success, last error, backlog) says why. Changing a mailbox stays with administrators:
its configuration names the secrets' variables."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

READ = "view_mailbox"


def _permission(apps):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="mailflow", codename=READ)


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    analysts, _ = Group.objects.get_or_create(name="SOC analyst")
    analysts.permissions.add(*_permission(apps))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="SOC analyst"):
        group.permissions.remove(*_permission(apps))


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0021_graph_mailbox")]

    operations = [migrations.RunPython(forwards, backwards)]
