"""The benchmark's campaign is built through the services once: everyone asked, their
answers, bounces and silences in the shares it names, and a second build finds it."""

import pytest
from django.db.models import Count

from bench.campaign_record import build, campaign_incident_id
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import RunbookRun

State = ConfirmationRequest.State


# Transactional: the campaign runs what it enqueues on commit, as a worker would.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_asks_everyone_once_and_their_answers_arrive_as_in_a_campaign():
    incident_id = build(50)

    requests = ConfirmationRequest.objects.filter(incident_id=incident_id)
    states = dict(requests.values_list("state").annotate(n=Count("id")))
    assert states == {State.ANSWERED: 28, State.UNDELIVERABLE: 1, State.SENT: 21}
    answers = Answer.objects.filter(request__incident_id=incident_id)
    assert answers.filter(counted=False, suspected_automated=True).count() == 1
    assert answers.filter(channel=Answer.Channel.EMAIL_REPLY).count() == 5
    assert RunbookRun.objects.filter(incident_id=incident_id).count() == 50

    assert build(50) == incident_id == campaign_incident_id()
    assert ConfirmationRequest.objects.filter(incident_id=incident_id).count() == 50
