"""Mailflow's answers to questions other apps ask about incidents, named in settings."""

from django.db.models import QuerySet

from incidents.models import SecurityIncident
from mailflow.models import OPEN_STATES, ConfirmationRequest


def incidents_waiting_for_answer() -> QuerySet[SecurityIncident]:
    """settings.INCIDENT_WAITING_SELECTOR: incidents with a confirmation request not yet
    answered, expired or cancelled."""
    waiting = ConfirmationRequest.objects.filter(state__in=OPEN_STATES)
    return SecurityIncident.objects.filter(pk__in=waiting.values("incident_id"))
