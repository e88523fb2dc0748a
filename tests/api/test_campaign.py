"""An incident's campaign through the API: the same figures as the campaign page, for the
callers that may read both the incident and its questions."""

from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import Actor
from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest
from runbooks.starting import runs_start_for_people
from tests.builders.api import client_with, make_token
from tests.factories import PersonFactory, UserFactory, category, open_incident


def campaign_of(committed, shipped, size: int):
    incident = committed(open_incident, category=category("phishing"))
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=[PersonFactory() for _ in range(size)],
    )
    return incident


def url(incident) -> str:
    return f"/api/incidents/{incident.number}/campaign/"


def test_it_counts_the_campaign_by_outcome(siem, reader, shipped, committed):
    incident = campaign_of(committed, shipped, 3)
    first = ConfirmationRequest.objects.filter(incident=incident).first()
    committed(answer_record, request=first, option_key="no", channel=Answer.Channel.PAGE)

    response = reader.get(url(incident))

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ["incident", "total", "sent", "sending", "open", "answered"]} == {
        "incident": incident.number,
        "total": 3,
        "sent": 3,
        "sending": False,
        "open": 2,
        "answered": 1,
    }
    assert body["done"] is False
    counts = {o["key"]: (o["label"], o["count"]) for o in body["outcomes"]}
    assert counts["answer:no"] == ("No, I did not", 1)
    assert counts["answer:yes"] == ("Yes, I clicked a link or opened an attachment", 0)
    assert counts["waiting"] == ("No answer yet", 2)
    assert set(counts) >= {"suspicious", "held", "no_answer", "undeliverable"}
    assert siem.get(url(incident)).json() == body


def test_callers_need_a_token_and_both_view_permissions(anonymous, shipped, committed):
    incident = campaign_of(committed, shipped, 2)
    assert anonymous.get(url(incident)).status_code == 401

    incidents_only = UserFactory()
    incidents_only.user_permissions.add(Permission.objects.get(codename="view_securityincident"))
    requests_only = UserFactory()
    requests_only.user_permissions.add(Permission.objects.get(codename="view_confirmationrequest"))
    for n, user in enumerate([incidents_only, requests_only]):
        token = make_token(user, name=f"Reader {n}")
        assert client_with(token).get(url(incident)).status_code == 403
    both = UserFactory()
    both.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_securityincident", "view_confirmationrequest"]
        )
    )
    assert client_with(make_token(both, name="Both")).get(url(incident)).status_code == 200


def test_an_unknown_incident_is_404_and_a_malformed_number_never_routes(siem):
    assert siem.get("/api/incidents/SIR9999999/campaign/").status_code == 404
    assert siem.get("/api/incidents/%3Cx%3E/campaign/").status_code == 404
    # Read-only: nobody's permissions cover adding questions here.
    assert siem.post("/api/incidents/SIR9999999/campaign/").status_code in (403, 405)


def test_it_costs_the_same_queries_for_many_people(siem, shipped, committed):
    small, large = campaign_of(committed, shipped, 2), campaign_of(committed, shipped, 25)
    siem.get(url(small))  # the token's last use is recorded once

    def cost(incident) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert siem.get(url(incident)).status_code == 200
        return len(queries)

    assert cost(small) == cost(large)
