"""A runbook's versions: replacing its steps bumps its version (runs already started keep
their snapshot), and changes made outside the admin are written to its admin History."""

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from runbooks.definitions import validate_steps
from runbooks.models import Runbook, RunbookStep


def runbook_set_steps(*, runbook: Runbook, steps: list[dict]) -> Runbook:
    """Replace a runbook's steps with validated ones and bump its version. Runs already
    started keep their snapshot. Raises DefinitionError naming each bad step."""
    cleaned = validate_steps(steps)
    with transaction.atomic():
        runbook.steps.all().delete()
        RunbookStep.objects.bulk_create(
            RunbookStep(
                runbook=runbook,
                position=number,
                action=step["action"],
                guard=step["guard"],
                guard_outcomes=step["outcomes"],
                params=step["params"],
            )
            # Numbered from 1, as steps are in the diagram and in error messages.
            for number, step in enumerate(cleaned, start=1)
        )
        runbook_bump_version(runbook=runbook)
    return runbook


def runbook_bump_version(*, runbook: Runbook) -> Runbook:
    """Record that the definition changed (admin edits and imports)."""
    Runbook.objects.filter(pk=runbook.pk).update(
        version=runbook.version + 1, updated_at=timezone.now()
    )
    runbook.refresh_from_db(fields=["version", "updated_at"])
    return runbook


# Django's admin History needs a user for every entry; changes made by a command (the
# runbooks command, installing the shipped library) have none, so they are written as this
# account. It cannot sign in, and the admin's forms cannot create a user of this name, so
# it is never confused with a person.
HISTORY_USERNAME = "system:commands"


def runbook_record_history(
    *, runbook: Runbook, actor: Actor, message: str, added: bool = False
) -> None:
    """Write a change the admin did not make into the runbook's admin History, as the admin
    writes its own saves, so an author sees every version there."""
    LogEntry.objects.log_actions(
        user_id=_history_user(actor).pk,
        queryset=[runbook],
        action_flag=ADDITION if added else CHANGE,
        change_message=f"{message} ({actor.name}, version {runbook.version})",
        single_object=True,
    )


def _history_user(actor: Actor) -> AbstractBaseUser:
    if actor.user is not None:
        return actor.user
    user, created = get_user_model().objects.get_or_create(
        username=HISTORY_USERNAME, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
