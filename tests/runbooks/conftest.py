import pytest

from incidents.models import SecurityIncident
from runbooks import actions
from tests.factories import category, open_incident


@pytest.fixture
def open_with_runbooks(committed, bob):
    """Open an incident of a category through the service, letting its runbooks start."""

    def open_(slug: str, **kwargs) -> SecurityIncident:
        kwargs.setdefault("affected_user", bob)
        return committed(open_incident, category=category(slug), **kwargs)

    return open_


@pytest.fixture(autouse=True)
def generic_executors(monkeypatch):
    """Runbook tests exercise the engine alone: the generic ask_user and file_evidence, not
    the email versions mailflow registers at startup (tested in tests/mailflow)."""
    for name in ("ask_user", "file_evidence"):
        monkeypatch.setattr(actions.ACTIONS[name], "executor", getattr(actions, name))
