"""Incidents ask the app that asks questions which incidents wait for an answer, through
the selector it names in settings, never by copying its states."""

import pytest
from django.test import override_settings

from incidents.selectors import incidents_waiting_for_answer
from mailflow.models import ConfirmationRequest
from tests.factories import category, open_incident

pytestmark = pytest.mark.django_db

State = ConfirmationRequest.State


def asked(committed, bob):
    return committed(open_incident, category=category("failed-login"), affected_user=bob)


def test_an_incident_waits_while_its_question_is_open_and_not_after(shipped, committed, bob):
    waiting, answered = asked(committed, bob), asked(committed, bob)
    open_incident(category=category("malware"))
    ConfirmationRequest.objects.filter(incident=answered).update(state=State.ANSWERED)

    assert list(incidents_waiting_for_answer()) == [waiting]


@override_settings(INCIDENT_WAITING_SELECTOR="")
def test_without_an_app_that_asks_no_incident_waits(shipped, committed, bob):
    asked(committed, bob)

    assert list(incidents_waiting_for_answer()) == []
