"""Approvers vote the ways people answer (the answer page, a reply) and, for staff, on the
incident page; each vote counts once, and a worker killed while the run goes on leaves the
same world when the work runs again."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents.models import SecurityIncident
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from runbooks.models import RunbookRun
from runbooks.services import run_advance, runs_sweep
from tests.builders.answers import land, links, settle
from tests.builders.approvals import (
    BOARD,
    DISABLE,
    approval_world,
    ask_for_approval,
    seat_of,
    seats,
    summaries,
    tasks,
    vote,
)
from tests.builders.crashes import WorkerKilled
from tests.builders.inbound import raw_reply

pytestmark = pytest.mark.usefixtures("fresh_cache", "webhook_secret")


@pytest.fixture
def world(db, bob):
    return approval_world(bob)


def email_to(outbox, address: str):
    return next(m for m in outbox if m.to == [address])


def run_of(incident) -> RunbookRun:
    return RunbookRun.objects.get(incident=incident)


# --- the answer page --------------------------------------------------------------------


def test_an_approver_votes_on_the_answer_page_from_the_email(
    world, committed, bob, outbox, browser
):
    incident = ask_for_approval(committed, bob, ["manager"])
    seat = seats(incident)[0]
    settle(seat)
    email = email_to(outbox, "maya@corp.example.com")
    assert set(links(email)) == {"approve", "deny", "suspicious"}

    page = browser.get(land(browser, links(email)["approve"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Please confirm your decision" in text
    assert f"Your approval is requested in security incident {incident.number}." in text
    assert "Bob said the sign-in was not them." in text
    response = committed(browser.post, reverse("mailflow:respond"), {"choice": "approve"})

    assert response.status_code == 303
    assert tasks(incident) == [DISABLE]
    assert summaries(incident, "approval.voted") == [
        "Maya Manager approved (1 of 1 approvals needed) by answer page"
    ]


# --- replies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "words, outcome",
    [("Approved, go ahead.", "approved"), ("yes", "approved"), ("Genehmigt", "approved"),
     ("no", "denied"), ("Denied", "denied"), ("Abgelehnt.", "denied")],
)  # fmt: skip
def test_an_approver_votes_by_replying_with_a_word(world, committed, bob, deliver, words, outcome):
    incident = ask_for_approval(committed, bob, ["manager"])
    seat = seats(incident)[0]

    inbound = deliver(raw_reply(seat, words, sender="maya@corp.example.com"))

    assert inbound.status == InboundEmail.Status.ANSWERED
    assert incident.timeline.filter(kind="runbook.resumed", data__outcome=outcome).count() == 1
    (voted,) = incident.timeline.filter(kind="approval.voted")
    assert voted.data["channel"] == "email_reply"


def test_a_reply_that_is_neither_approve_nor_deny_is_no_vote(world, committed, bob, deliver):
    incident = ask_for_approval(committed, bob, ["group:" + BOARD], quorum=1)
    ana = seat_of(incident, "ana@soc.example.com")

    deliver(raw_reply(ana, "Not approved until I hear from legal.", sender="ana@soc.example.com"))

    assert summaries(incident, "answer.flagged") == [
        "Reply from ana@soc.example.com not taken as a vote: it reads as neither approve nor deny"
    ]
    assert summaries(incident, "approval.voted") == []
    ana.refresh_from_db()
    assert ana.is_open  # she may still vote
    vote(committed, ana, "approve")
    assert tasks(incident) == [DISABLE]


def test_a_reply_from_someone_else_is_held_not_counted(world, committed, bob, deliver):
    incident = ask_for_approval(committed, bob, ["manager"])
    seat = seats(incident)[0]

    deliver(raw_reply(seat, "Approve", sender="bob@corp.example.com"))  # Bob approving himself

    assert run_of(incident).state == RunbookRun.State.WAITING
    assert Answer.objects.get(request=seat).sender_mismatch
    assert tasks(incident) == ["Verify reply from bob@corp.example.com"]  # no Disable task


def test_a_duplicate_reply_resumes_the_run_once(world, committed, bob, deliver):
    incident = ask_for_approval(committed, bob, ["manager"])
    seat = seats(incident)[0]
    raw = raw_reply(seat, "Approve", sender="maya@corp.example.com")

    deliver(raw)
    deliver(raw)  # the provider delivers it again
    deliver(raw.replace(f"<reply-{seat.pk}@", f"<reply-again-{seat.pk}@"))  # she replies twice

    assert Answer.objects.filter(request=seat, counted=True).count() == 1
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1
    assert tasks(incident) == [DISABLE]


# --- the incident page in the admin -----------------------------------------------------


def incident_page(client: Client, incident: SecurityIncident) -> str:
    response = client.get(reverse("admin:incidents_securityincident_change", args=[incident.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_staff_approver_votes_on_the_incident_page(world, committed, bob):
    incident = ask_for_approval(
        committed, bob, ["person:carla@soc.example.com", "manager"], quorum=1
    )
    carla_seat = seat_of(incident, "carla@soc.example.com")
    client = Client()
    client.force_login(world["carla"])
    page = incident_page(client, incident)
    vote_url = reverse("admin:mailflow_approval_vote", args=[carla_seat.pk])
    assert page.count(f'action="{vote_url}"') == 2  # Approve and Deny, on her seat only
    assert "Maya Manager: waiting" in page

    response = committed(client.post, vote_url, {"vote": "approve"})

    assert response.status_code == 302
    assert tasks(incident) == [DISABLE]
    (voted,) = incident.timeline.filter(kind="approval.voted")
    assert (voted.data["channel"], voted.actor_kind, voted.actor_user) == (
        "admin", "analyst", world["carla"]
    )  # fmt: skip
    assert voted.summary == "Carla Ciso approved (1 of 1 approvals needed) by incident page"
    assert 'id="approvals"' not in incident_page(client, incident)  # settled: nothing open


def test_only_the_seats_approver_may_vote_on_the_incident_page(world, committed, bob, analyst):
    incident = ask_for_approval(committed, bob, ["person:carla@soc.example.com"])
    seat = seats(incident)[0]
    client = Client()
    client.force_login(analyst)  # another analyst, not the approver
    vote_url = reverse("admin:mailflow_approval_vote", args=[seat.pk])
    assert vote_url not in incident_page(client, incident)

    response = client.post(vote_url, {"vote": "approve"})
    by_get = Client()
    by_get.force_login(world["carla"])

    assert response.status_code == 403
    assert by_get.get(vote_url).status_code == 405
    assert not Answer.objects.exists()
    assert run_of(incident).state == RunbookRun.State.WAITING


def test_an_unknown_vote_on_the_incident_page_is_refused_with_a_message(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["person:carla@soc.example.com"])
    seat = seats(incident)[0]
    client = Client()
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:mailflow_approval_vote", args=[seat.pk]), {"vote": "yes"}, follow=True
    )

    assert "Approve or deny." in response.content.decode()
    assert not Answer.objects.exists()


# --- a worker killed --------------------------------------------------------------------


def test_a_worker_killed_while_asking_the_approvers_asks_each_once_when_run_again(
    world, committed, bob, kill_at, outbox
):
    kill_at("ask_approval")

    with pytest.raises(WorkerKilled):
        ask_for_approval(committed, bob, ["group:" + BOARD], quorum=2)
    incident = SecurityIncident.objects.get()
    assert not ConfirmationRequest.objects.exists()  # rolled back with the step

    run = run_of(incident)
    committed(run_advance, run.pk)
    committed(run_advance, run.pk)

    assert len(seats(incident)) == 3
    assert len(outbox) == 3
    assert incident.timeline.filter(kind="approval.asked").count() == 1


def test_a_worker_killed_after_the_decision_converges_once(world, committed, bob, kill_at):
    incident = ask_for_approval(committed, bob, ["group:" + BOARD], quorum=2)
    ana, ben, _cat = seats(incident)
    vote(committed, ana, "approve")
    kill_at("create_task")

    with pytest.raises(WorkerKilled):
        vote(committed, ben, "approve")
    run = run_of(incident)
    assert run.state == RunbookRun.State.RUNNING  # the decision committed, the branch did not
    RunbookRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert committed(runs_sweep) == 1
    vote(committed, ben, "approve")  # and the approver clicks again

    assert tasks(incident) == [DISABLE]
    assert run_of(incident).state == RunbookRun.State.COMPLETED
    assert incident.timeline.filter(kind="approval.decided").count() == 1
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1
