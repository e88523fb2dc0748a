import pytest
from django.conf import settings as django_settings

from incidents.models import SecurityIncident
from tests.factories import category, open_incident


@pytest.fixture
def open_with_runbooks(committed, bob):
    """Open an incident of a category through the service, letting its runbooks start."""

    def open_(slug: str, **kwargs) -> SecurityIncident:
        kwargs.setdefault("affected_user", bob)
        return committed(open_incident, category=category(slug), **kwargs)

    return open_


GENERIC_ACTIONS = [
    path.replace("mailflow.actions.", "runbooks.actions.")
    for path in django_settings.RUNBOOK_ACTIONS
]


@pytest.fixture(autouse=True)
def generic_actions(settings):
    """Runbook tests exercise the engine alone: the generic ask_user and file_evidence, not
    the email versions settings.RUNBOOK_ACTIONS names (tested in tests/mailflow)."""
    settings.RUNBOOK_ACTIONS = GENERIC_ACTIONS
