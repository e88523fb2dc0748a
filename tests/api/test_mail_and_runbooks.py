"""Questions, answers, runbooks and runs through the API (read, and the run actions)."""

import pytest
from django.core import mail

from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import RunbookRun
from tests.factories import PersonFactory, category, open_incident


@pytest.fixture
def asked(shipped, committed, bob):
    """Two incidents whose shipped runbooks email Bob; returns their requests."""

    def ask(slug: str) -> ConfirmationRequest:
        incident = committed(open_incident, category=category(slug), affected_user=bob)
        return ConfirmationRequest.objects.get(incident=incident)

    return ask


def answer(committed, request, key, **kwargs):
    kwargs.setdefault("channel", Answer.Channel.PAGE)
    return committed(answer_record, request=request, option_key=key, **kwargs)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["results"]]


def test_requests_filter_by_incident_state_channel_and_waiting(siem, asked, committed):
    login, download = asked("failed-login"), asked("policy-violation")
    answer(committed, login, "yes", channel=Answer.Channel.EMAIL_REPLY)

    assert ids(siem.get("/api/requests/", {"incident": login.incident.number})) == [login.pk]
    assert ids(siem.get("/api/requests/", {"state": "answered"})) == [login.pk]
    assert ids(siem.get("/api/requests/", {"state": ["answered", "sent"]})) == [
        login.pk, download.pk
    ]  # fmt: skip
    assert ids(siem.get("/api/requests/", {"waiting": "true"})) == [download.pk]
    assert ids(siem.get("/api/requests/", {"channel": "email_reply"})) == [login.pk]
    assert ids(siem.get("/api/requests/", {"evidence_requested": "true"})) == [download.pk]
    assert ids(siem.get("/api/requests/", {"task": download.task.number})) == [download.pk]


def test_a_request_never_shows_its_tokens(siem, asked):
    request = asked("failed-login")

    body = siem.get(f"/api/requests/{request.pk}/").json()

    assert body["recipient_email"] == "bob@corp.example.com"
    secrets = {"token_hash", "reply_token_hash", "token_nonce", "message_id"}
    assert not secrets & set(body)


def test_answers_filter_by_incident_channel_and_flags(siem, asked, committed):
    login, download = asked("failed-login"), asked("policy-violation")
    scanner = answer(committed, login, "yes", suspected_automated=True)
    counted = answer(committed, login, "no", channel=Answer.Channel.EMAIL_REPLY)
    revision = answer(committed, login, "yes")
    other = answer(committed, download, "yes")

    assert ids(siem.get("/api/answers/", {"incident": login.incident.number})) == [
        scanner.pk, counted.pk, revision.pk
    ]  # fmt: skip
    assert ids(siem.get("/api/answers/", {"channel": "email_reply"})) == [counted.pk]
    assert ids(siem.get("/api/answers/", {"suspected_automated": "true"})) == [scanner.pk]
    assert ids(siem.get("/api/answers/", {"is_revision": "true"})) == [revision.pk]
    assert ids(siem.get("/api/answers/", {"counted": "true"})) == [counted.pk, other.pk]
    assert ids(siem.get("/api/answers/", {"flagged": "true"})) == [scanner.pk, revision.pk]
    assert ids(siem.get("/api/answers/", {"flagged": "false"})) == [counted.pk, other.pk]
    assert ids(siem.get("/api/answers/", {"late": "true"})) == []
    assert ids(siem.get("/api/answers/", {"sender_mismatch": "true"})) == []
    assert ids(siem.get("/api/answers/", {"option_key": "no"})) == [counted.pk]
    assert ids(siem.get("/api/answers/", {"request": download.pk})) == [other.pk]
    assert ids(siem.get("/api/answers/", {"state": "answered"})) == [
        scanner.pk, counted.pk, revision.pk, other.pk
    ]  # fmt: skip
    flags = siem.get(f"/api/answers/{scanner.pk}/").json()["flags"]
    assert flags == ["suspected automated"]


def test_answers_held_for_an_analyst_are_marked_and_filtered(siem, asked, committed):
    login, download = asked("failed-login"), asked("policy-violation")
    waiting = answer(committed, login, "no", suspected_automated=True)
    settled = answer(committed, download, "yes", suspected_automated=True)
    counted = answer(committed, download, "yes")  # the person answered again

    assert ids(siem.get("/api/answers/", {"held": "true"})) == [waiting.pk]
    assert ids(siem.get("/api/answers/", {"held": "false"})) == [settled.pk, counted.pk]
    assert siem.get(f"/api/answers/{waiting.pk}/").json()["held"] is True
    assert siem.get(f"/api/answers/{settled.pk}/").json()["held"] is False


def test_the_mail_records_are_read_only(siem, asked):
    request = asked("failed-login")

    assert siem.post("/api/requests/", {}, format="json").status_code in (403, 405)
    assert siem.delete(f"/api/requests/{request.pk}/").status_code in (403, 405)
    assert ConfirmationRequest.objects.filter(pk=request.pk).exists()


def test_runbooks_are_listed_with_their_steps(siem, shipped):
    body = siem.get("/api/runbooks/").json()["results"]

    download = next(r for r in body if r["name"] == "Suspicious file download")
    assert download["categories"] == ["policy-violation"]
    assert download["steps"][0] == {
        "position": 1,
        "action": "create_task",
        "guard": "always",
        "guard_outcomes": [],
        "params": {
            "title": "Confirm the download with the user",
            "description": "How to confirm a download with the user: knowledge article KB0010042.",
        },
    }
    active = siem.get("/api/runbooks/", {"active": "true", "category": "failed-login"}).json()
    assert [r["name"] for r in active["results"]] == ["Failed sign-ins"]


def test_runs_filter_by_incident_state_and_runbook(siem, asked):
    login = asked("failed-login")
    download = asked("policy-violation")

    assert ids(siem.get("/api/runs/", {"incident": login.incident.number})) == [login.run_id]
    assert ids(siem.get("/api/runs/", {"state": "waiting"})) == [login.run_id, download.run_id]
    assert ids(siem.get("/api/runs/", {"runbook": "Failed sign-ins"})) == [login.run_id]


def test_cancelling_a_waiting_run(siem, asked):
    run = asked("failed-login").run

    response = siem.post(f"/api/runs/{run.pk}/cancel/", {"reason": "Duplicate"}, format="json")

    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    run.refresh_from_db()
    assert run.state == "cancelled"
    entry = run.incident.timeline.get(kind="runbook.cancelled")
    assert (entry.body, entry.actor_kind) == ("Duplicate", "integration")
    again = siem.post(f"/api/runs/{run.pk}/cancel/", {}, format="json")
    assert again.status_code == 409


def test_resuming_a_failed_run(siem, asked, committed):
    run = asked("failed-login").run
    RunbookRun.objects.filter(pk=run.pk).update(state=RunbookRun.State.FAILED, error="Boom")

    response = committed(siem.post, f"/api/runs/{run.pk}/resume/", {}, format="json")

    assert response.status_code == 200
    run.refresh_from_db()
    assert run.error == ""
    assert run.incident.timeline.filter(kind="runbook.retried").count() == 1


def test_resuming_a_run_that_did_not_fail_gets_409(siem, asked):
    run = asked("failed-login").run

    response = siem.post(f"/api/runs/{run.pk}/resume/", {}, format="json")

    assert response.status_code == 409
    run.refresh_from_db()
    assert run.state == "waiting"


# --- asking many people -----------------------------------------------------------------


def test_a_mail_gateway_integration_asks_everyone_a_phishing_email_reached(
    siem, shipped, committed
):
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory() for _ in range(3)]
    body = {
        "incident": incident.number,
        "runbook": "Phishing recipients",
        "people": [p.email.upper() for p in people],
    }

    response = committed(siem.post, "/api/runs/ask-people/", body, format="json")
    again = committed(siem.post, "/api/runs/ask-people/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json() == {"started": 3, "already_asked": 0}
    assert again.json() == {"started": 0, "already_asked": 3}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in people)
    assert {r.person_id for r in RunbookRun.objects.filter(incident=incident)} == {
        p.pk for p in people
    }
    (started,) = incident.timeline.filter(kind="runbook.started")
    assert started.actor_kind == "integration"


def test_asking_people_refuses_strangers_and_runbooks_that_do_not_fit(siem, shipped, committed):
    incident = committed(open_incident, category=category("phishing"))
    known = PersonFactory()

    strangers = siem.post(
        "/api/runs/ask-people/",
        {"incident": incident.number, "runbook": "Phishing recipients",
         "people": [known.email, "stranger@elsewhere.example"]},
        format="json",
    )  # fmt: skip
    wrong_runbook = siem.post(
        "/api/runs/ask-people/",
        {"incident": incident.number, "runbook": "Failed sign-ins", "people": [known.email]},
        format="json",
    )

    assert strangers.status_code == 400
    assert strangers.json()["people"] == ["Not in the directory: stranger@elsewhere.example"]
    assert wrong_runbook.status_code == 400
    assert "conditions" in wrong_runbook.json()["runbook"][0]
    assert not RunbookRun.objects.filter(incident=incident).exists()


def test_a_read_only_token_cannot_ask_people(reader, shipped, committed):
    incident = committed(open_incident, category=category("phishing"))

    response = reader.post(
        "/api/runs/ask-people/",
        {"incident": incident.number, "runbook": "Phishing recipients",
         "people": [PersonFactory().email]},
        format="json",
    )  # fmt: skip

    assert response.status_code == 403
    assert not RunbookRun.objects.filter(incident=incident).exists()
