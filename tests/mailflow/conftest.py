import pytest
from django.core import mail

from mailflow.models import ConfirmationRequest
from tests.factories import category, open_incident


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
