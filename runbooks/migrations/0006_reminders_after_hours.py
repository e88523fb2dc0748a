"""ask_user's one `reminder_after_hours` (N, 0 for none) becomes `reminders_after_hours`, a
list of hours ([N], [] for none). Runs already started keep the step as it was: the
executor reads the old name as a one-item list (mailflow.actions)."""

from django.db import migrations

OLD, NEW = "reminder_after_hours", "reminders_after_hours"


def forwards(apps, schema_editor):
    RunbookStep = apps.get_model("runbooks", "RunbookStep")
    for step in RunbookStep.objects.filter(action="ask_user"):
        params = dict(step.params or {})
        if OLD not in params:
            continue
        hours = params.pop(OLD)
        if NEW not in params:
            params[NEW] = [hours] if isinstance(hours, int) and hours > 0 else []
        step.params = params
        step.save(update_fields=["params"])


def backwards(apps, schema_editor):
    RunbookStep = apps.get_model("runbooks", "RunbookStep")
    for step in RunbookStep.objects.filter(action="ask_user"):
        params = dict(step.params or {})
        if NEW not in params:
            continue
        hours = params.pop(NEW) or []
        params[OLD] = hours[0] if hours else 0
        step.params = params
        step.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0005_guards_for_targets_and_away")]

    operations = [migrations.RunPython(forwards, backwards)]
