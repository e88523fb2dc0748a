"""ask_approval: each approver votes on a seat of their own, and the tally moves the run on
exactly once: approved at the quorum, denied once denials put it out of reach, no_answer
at the deadline."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from mailflow.due_requests import requests_process_due
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_mark_undeliverable
from mailflow.sending import MAILER
from runbooks.models import RunbookRun
from tests.builders.approvals import (
    BOARD,
    DISABLE,
    approval_world,
    ask_for_approval,
    notes,
    seats,
    summaries,
    tasks,
    vote,
)

State = ConfirmationRequest.State
BOARD_ENTRY = f"group:{BOARD}"


@pytest.fixture
def world(db, bob):
    return approval_world(bob)


def run_of(incident) -> RunbookRun:
    return RunbookRun.objects.get(incident=incident)


def test_one_approver_approving_moves_the_run_on_approved(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["manager"])
    (seat,) = seats(incident)
    assert (seat.person, seat.recipient_email, seat.kind) == (
        world["maya"],
        "maya@corp.example.com",
        "approval",
    )
    assert run_of(incident).state == RunbookRun.State.WAITING

    vote(committed, seat, "approve")

    assert tasks(incident) == [DISABLE]
    assert summaries(incident, "approval.voted") == [
        "Maya Manager approved (1 of 1 approvals needed) by answer page"
    ]
    assert summaries(incident, "approval.decided") == [
        "Approval approved: Disable the account of Bob Builder?"
    ]
    assert incident.timeline.filter(kind="runbook.resumed", data__outcome="approved").count() == 1
    assert run_of(incident).state == RunbookRun.State.COMPLETED


def test_two_of_three_approving_decide_and_the_third_seat_closes(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2)
    ana, ben, cat = seats(incident)
    assert [s.recipient_email for s in (ana, ben, cat)] == [
        "ana@soc.example.com",
        "ben@soc.example.com",
        "cat@soc.example.com",
    ]  # fmt: skip (the inactive member is not asked)

    vote(committed, ana, "approve")
    assert (run_of(incident).state, tasks(incident)) == (RunbookRun.State.WAITING, [])
    vote(committed, ben, "approve")

    assert tasks(incident) == [DISABLE]
    cat.refresh_from_db()
    assert cat.state == State.CANCELLED
    assert summaries(incident, "approval.voted") == [
        "Ana Board approved (1 of 2 approvals needed) by answer page",
        "Ben Board approved (2 of 2 approvals needed) by answer page",
    ]
    assert "Approval request to Cat Board closed: already approved" in summaries(
        incident, "request.cancelled"
    )


def test_a_vote_after_the_decision_is_recorded_late_and_changes_nothing(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2)
    ana, ben, cat = seats(incident)
    vote(committed, ana, "approve")
    vote(committed, ben, "approve")

    late = vote(committed, cat, "deny")

    assert (late.late, late.counted) == (True, False)
    assert incident.timeline.filter(kind="answer.late").count() == 1
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1
    assert tasks(incident)[0] == DISABLE


def test_denials_that_put_the_quorum_out_of_reach_deny(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2)
    ana, ben, cat = seats(incident)

    vote(committed, ana, "deny")
    assert run_of(incident).state == RunbookRun.State.WAITING  # Ben and Cat can still approve
    vote(committed, ben, "deny")

    assert notes(incident) == ["Not disabled: denied"]
    assert tasks(incident) == []
    cat.refresh_from_db()
    assert cat.state == State.CANCELLED
    assert incident.timeline.filter(kind="runbook.resumed", data__outcome="denied").count() == 1


def test_with_every_approver_needed_one_denial_denies_at_once(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["manager", "person:carla@soc.example.com"])
    maya, carla = seats(incident)

    vote(committed, carla, "deny")

    assert notes(incident) == ["Not disabled: denied"]
    maya.refresh_from_db()
    assert maya.state == State.CANCELLED


def test_no_decision_by_the_deadline_is_no_answer_once(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2, deadline_hours=8)
    ana, _ben, _cat = seats(incident)
    vote(committed, ana, "approve")

    later = timezone.now() + timedelta(hours=9)
    committed(requests_process_due, later)
    committed(requests_process_due, later)  # the schedule runs again

    assert notes(incident) == ["Nobody decided"]
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1
    assert incident.timeline.filter(kind="approval.decided", data__outcome="no_answer").count() == 1
    assert {s.state for s in seats(incident)[1:]} <= {State.NO_ANSWER, State.CANCELLED}


def test_every_approval_email_bouncing_is_undeliverable(world, committed, bob):
    incident = ask_for_approval(
        committed, bob, ["manager", "person:carla@soc.example.com"], quorum=1
    )

    for seat in seats(incident):
        committed(request_mark_undeliverable, request=seat, actor=MAILER, reason="5.1.1")

    assert notes(incident) == ["Nobody reached"]
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1


def test_a_duplicate_vote_counts_once(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2)
    ana = seats(incident)[0]

    first = vote(committed, ana, "approve")
    again = vote(committed, ana, "approve")

    assert again.pk == first.pk
    assert Answer.objects.filter(request=ana).count() == 1
    assert len(summaries(incident, "approval.voted")) == 1
    assert run_of(incident).state == RunbookRun.State.WAITING


def test_a_change_of_mind_keeps_the_first_vote_and_asks_an_analyst(world, committed, bob):
    """Decided: a vote, once counted, stands (as a question's answer does); a different
    vote later is recorded as a revision and an analyst reviews it."""
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY], quorum=2)
    ana, ben, _cat = seats(incident)
    vote(committed, ana, "approve")

    changed = vote(committed, ana, "deny")

    assert (changed.is_revision, changed.counted) == (True, False)
    assert "Review changed answer from Ana Board (Approve → Deny)" in tasks(incident)
    vote(committed, ben, "approve")
    assert DISABLE in tasks(incident)


def test_nobody_to_ask_takes_no_target_at_once(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["group:Nobody here", "person:x@nowhere.example"])

    assert seats(incident) == []
    assert notes(incident) == ["Nobody to ask"]
    (asked,) = incident.timeline.filter(kind="approval.asked")
    assert "there is no group 'Nobody here'" in asked.body


def test_more_approvals_needed_than_approvers_fails_the_step_with_a_task(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["manager"], quorum=3)

    run = run_of(incident)
    assert "needs 3 approvals but found 1 approver" in run.error
    assert seats(incident) == []


def test_a_staff_user_without_a_directory_entry_is_asked_by_their_account(world, committed, bob):
    incident = ask_for_approval(committed, bob, ["person:Carla@SOC.example.com"])
    (seat,) = seats(incident)

    assert (seat.person, seat.approver_user, seat.recipient_email) == (
        None, world["carla"], "carla@soc.example.com"
    )  # fmt: skip
    (email,) = [m for m in mail.outbox if m.to == ["carla@soc.example.com"]]
    assert email.subject.startswith(f"[{incident.number}] Disable the account of Bob Builder?")
    assert email.body.startswith("Hello Carla,")  # named after her account
    for text in (incident.number, "Bob said the sign-in was not them.",
                 "Disable the account of Bob Builder?", "approve / deny",
                 "runbook “Approve, then disable”", "It concerns Bob Builder."):  # fmt: skip
        assert text in email.body
    assert "Approval request for Carla Ciso" in summaries(incident, "request.created")[0]


def test_each_approver_gets_their_own_email_and_tokens(world, committed, bob):
    incident = ask_for_approval(committed, bob, [BOARD_ENTRY, "manager"], quorum=1)

    asked = seats(incident)
    assert [s.seat for s in asked] == [0, 1, 2, 3]
    assert len({s.token_hash for s in asked}) == 4
    assert sorted(m.to[0] for m in mail.outbox) == sorted(s.recipient_email for s in asked)
