import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group

from incidents.groups import RUNBOOK_AUTHOR, SOC_ANALYST
from incidents.models import SecurityIncident
from runbooks.models import Runbook, RunbookStep
from tests.factories import UserFactory, category, open_incident

OPTIONS = [{"key": "yes", "label": "Yes, that was me"}, {"key": "no", "label": "No"}]
TASK = {"action": "create_task", "params": {"title": "Check the sign-ins of {person_name}"}}
ASK = {"action": "ask_user", "params": {"question": "Was it you?", "options": OPTIONS}}
NOTE_YES = {"action": "add_note", "guard": "answer_in", "outcomes": ["yes"],
            "params": {"text": "{person_name} confirmed."}}  # fmt: skip


@pytest.fixture
def open_with_runbooks(committed, bob):
    """Open an incident of a category through the service, letting its runbooks start."""

    def open_(slug: str, **kwargs) -> SecurityIncident:
        kwargs.setdefault("affected_user", bob)
        return committed(open_incident, category=category(slug), **kwargs)

    return open_


GENERIC_ACTIONS = [
    path.replace("mailflow.actions.", "runbooks.actions.").replace(
        "mailflow.approvals.", "runbooks.approval_action."
    )
    for path in django_settings.RUNBOOK_ACTIONS
]


@pytest.fixture(autouse=True)
def generic_actions(settings):
    """Runbook tests exercise the engine alone: the generic ask_user and file_evidence, not
    the email versions settings.RUNBOOK_ACTIONS names (tested in tests/mailflow)."""
    settings.RUNBOOK_ACTIONS = GENERIC_ACTIONS


def staff_in(group: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def author_client(client, db):
    client.force_login(staff_in(RUNBOOK_AUTHOR))
    return client


@pytest.fixture
def analyst_client(client, db):
    client.force_login(staff_in(SOC_ANALYST))
    return client


@pytest.fixture
def runbook(db) -> Runbook:
    """A runbook at version 1 with three steps, made without the services (no bump)."""
    runbook = Runbook.objects.create(name="Failed sign-ins")
    for position, step in enumerate([TASK, ASK, NOTE_YES]):
        RunbookStep.objects.create(
            runbook=runbook,
            position=position,
            action=step["action"],
            guard=step.get("guard", "always"),
            guard_outcomes=step.get("outcomes", []),
            params=step["params"],
        )
    return runbook
