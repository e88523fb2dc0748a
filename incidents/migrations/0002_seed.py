"""Seed the categories, the number sequences and the two analyst groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CATEGORIES = [
    ("Failed login", "failed-login", "Repeated failed sign-ins to an account."),
    ("Policy violation", "policy-violation", "Use that breaks security policy, e.g. a download."),
    ("Phishing", "phishing", "A deceptive message aimed at credentials or payment."),
    ("Malware", "malware", "Malicious software detected or suspected on an asset."),
    ("Data loss", "data-loss", "Information leaving the organisation without permission."),
    ("Unauthorised access", "unauthorised-access", "Access by someone not entitled to it."),
]

# Analysts work incidents, tasks, evidence and the directory; nobody deletes case records.
ANALYST_PERMISSIONS = [
    "view_category",
    "view_timelineentry",
    *(
        f"{verb}_{model}"
        for model in ("securityincident", "responsetask", "evidence", "person", "configurationitem")
        for verb in ("view", "add", "change")
    ),
]
AUTHOR_EXTRA_PERMISSIONS = ["add_category", "change_category"]


def seed(apps, schema_editor):
    Category = apps.get_model("incidents", "Category")
    NumberSequence = apps.get_model("incidents", "NumberSequence")
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    for name, slug, description in CATEGORIES:
        Category.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    for prefix in ("SIR", "SIT"):
        NumberSequence.objects.get_or_create(prefix=prefix, defaults={"last_value": 1000})

    # Permissions are normally created after all migrations; make sure ours exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    def perms(codenames):
        return Permission.objects.filter(content_type__app_label="incidents", codename__in=codenames)

    analyst, _ = Group.objects.get_or_create(name="SOC analyst")
    analyst.permissions.add(*perms(ANALYST_PERMISSIONS))
    author, _ = Group.objects.get_or_create(name="Runbook author")
    author.permissions.add(*perms(ANALYST_PERMISSIONS + AUTHOR_EXTRA_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
