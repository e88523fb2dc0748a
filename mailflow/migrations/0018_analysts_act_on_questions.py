"""SOC analysts may act on a waiting question (withdraw, send again, extend the deadline,
end it as no answer): no admin edits requests, change_confirmationrequest only unlocks
those buttons. Whoever reads questions reads the emails sent again too."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ACT = "change_confirmationrequest"
READ = "view_resentemail"
READERS = ("SOC analyst", "Runbook author")


def _permissions(apps, codenames: list[str]):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="mailflow", codename__in=codenames)


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    analysts, _ = Group.objects.get_or_create(name="SOC analyst")
    analysts.permissions.add(*_permissions(apps, [ACT]))
    for name in READERS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, [READ]))


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="SOC analyst"):
        group.permissions.remove(*_permissions(apps, [ACT]))
    for group in Group.objects.filter(name__in=READERS):
        group.permissions.remove(*_permissions(apps, [READ]))


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0017_resent_email")]

    operations = [migrations.RunPython(forwards, backwards)]
