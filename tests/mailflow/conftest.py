import pytest
from django.core import mail

from mailflow.models import ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from tests.factories import category, open_incident


@pytest.fixture
def shipped(db):
    return {runbook.name: runbook for runbook in import_shipped_runbooks()}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what services defer to commit (runbook steps, sending) as a real commit would."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


@pytest.fixture
def asked(shipped, committed, bob):
    """Open an incident whose shipped runbook emails Bob; returns its request."""

    def ask(slug: str = "policy-violation") -> ConfirmationRequest:
        incident = committed(open_incident, category=category(slug), affected_user=bob)
        return ConfirmationRequest.objects.get(incident=incident)

    return ask


@pytest.fixture
def outbox():
    return mail.outbox
