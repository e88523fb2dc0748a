"""Answers held as a possible mail scanner: an analyst accepts one through answer_record,
and only while its question is open and unsettled; one nobody confirms within an hour
becomes a task, once."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

from core.actors import Actor
from core.errors import DomainError
from incidents.models import ResponseTask
from mailflow import tasks
from mailflow.answers import answer_record
from mailflow.held_answers import (
    HELD_TOPIC,
    held_answer_accept,
    held_answer_escalate,
    held_answers_escalate_due,
)
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_expire
from runbooks.models import RunbookRun
from tests.builders.answers import AN_HOUR_LATER, an_hour_passes, hold

State = ConfirmationRequest.State


def kinds(incident, kind: str) -> int:
    return incident.timeline.filter(kind=kind).count()


def titles(incident) -> list[str]:
    return list(incident.tasks.values_list("title", flat=True))


# --- accepting --------------------------------------------------------------------------


def test_accepting_a_held_answer_counts_it_in_the_analysts_name_and_moves_the_run(
    asked, committed, analyst
):
    request = asked("failed-login")
    held = committed(hold, request)

    accepted = committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    assert (accepted.option_key, accepted.counted, accepted.accepted_by) == ("no", True, analyst)
    assert (accepted.channel, accepted.comment) == ("page", "Not me, I was on holiday.")
    request.refresh_from_db()
    assert request.state == State.ANSWERED
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert titles(request.incident) == ["Reset the credentials of Bob Builder"]
    entry = request.incident.timeline.get(kind="answer.received")
    assert entry.summary == (
        "Bob Builder answered “No, that was not me” by answer page (accepted by Alice Analyst)"
    )
    assert (entry.actor_kind, entry.actor_user) == ("analyst", analyst)
    assert "Verified and accepted as the answer by Alice Analyst." in entry.body
    assert kinds(request.incident, "runbook.resumed") == 1


def test_a_second_accept_does_nothing_and_says_who_accepted_it(asked, committed, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    with pytest.raises(DomainError, match="already accepted by Alice Analyst"):
        committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    assert Answer.objects.filter(counted=True).count() == 1
    assert Answer.objects.count() == 2
    assert kinds(request.incident, "answer.received") == 1
    assert kinds(request.incident, "answer.revised") == 0
    assert titles(request.incident) == ["Reset the credentials of Bob Builder"]


def test_accepting_after_the_person_answered_again_does_nothing_and_says_why(
    asked, committed, analyst
):
    request = asked("failed-login")
    held = committed(hold, request)
    committed(
        answer_record,
        request=request,
        option_key="yes",
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
    )

    with pytest.raises(DomainError, match="Bob Builder answered again"):
        committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    counted = Answer.objects.get(counted=True)
    assert (counted.option_key, counted.accepted_by) == ("yes", None)
    assert kinds(request.incident, "answer.revised") == 0
    assert titles(request.incident) == []


def test_a_held_answer_cannot_be_accepted_once_its_question_closed(asked, committed, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    committed(request_expire, request=request)

    with pytest.raises(DomainError, match="only while its question is open"):
        committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    assert not Answer.objects.filter(counted=True).exists()
    request.refresh_from_db()
    assert request.state == State.NO_ANSWER


def test_only_answers_held_as_a_possible_scanner_are_accepted_here(asked, committed, analyst):
    request = asked("failed-login")
    from_someone_else = committed(
        answer_record,
        request=request,
        option_key="no",
        channel=Answer.Channel.EMAIL_REPLY,
        sender="mallory@example.net",
        from_recipient=False,
        sender_mismatch=True,
    )

    with pytest.raises(DomainError, match="Open the email"):
        committed(held_answer_accept, answer=from_someone_else, actor=Actor.analyst(analyst))

    assert not Answer.objects.filter(counted=True).exists()


# --- the hour without confirmation ------------------------------------------------------


def test_holding_an_answer_schedules_its_check_an_hour_later(asked, committed):
    request = asked("failed-login")

    held = committed(hold, request)

    check = Schedule.objects.get(func="mailflow.tasks.escalate_held_answer")
    assert check.args == f"({held.pk},)"
    assert check.next_run == held.received_at + timedelta(hours=1)
    assert check.schedule_type == Schedule.ONCE


def test_a_held_answer_nobody_confirms_within_an_hour_becomes_one_task(asked, committed):
    request = asked("failed-login")
    held = committed(hold, request)
    assert committed(tasks.escalate_held_answer, held.pk) is False  # not yet
    an_hour_passes(held)

    assert committed(tasks.escalate_held_answer, held.pk) is True
    assert committed(tasks.escalate_held_answer, held.pk) is False
    assert committed(tasks.sweep_held_answers) == 0

    task = request.incident.tasks.get()
    assert (task.topic, task.state) == (HELD_TOPIC, ResponseTask.State.OPEN)
    assert task.title == (
        f"Confirm answers held as a possible mail scanner on {request.incident.number}"
    )
    assert "“Accept as the answer”" in task.description
    held.refresh_from_db()
    assert held.review_task == task
    entry = request.incident.timeline.get(kind="answer.held_unconfirmed")
    assert entry.task == task
    assert entry.summary == (
        f"Answer “No, that was not me” from Bob Builder held for an hour without "
        f"confirmation: {task.number}"
    )
    assert "headless browser" in entry.body
    assert entry.data == {"request": request.pk, "answer": held.pk, "task": task.number}
    assert kinds(request.incident, "task.created") == 1
    request.refresh_from_db()
    assert request.state == State.SENT  # still waiting: the analyst decides


def test_the_sweep_makes_tasks_of_held_answers_past_their_hour_once(asked, committed):
    request = asked("failed-login")
    held = committed(hold, request)

    assert committed(held_answers_escalate_due, held.received_at + timedelta(minutes=59)) == 0
    assert committed(held_answers_escalate_due, held.received_at + AN_HOUR_LATER) == 1
    assert committed(held_answers_escalate_due, held.received_at + AN_HOUR_LATER) == 0

    assert request.incident.tasks.count() == 1
    assert kinds(request.incident, "answer.held_unconfirmed") == 1


def test_an_accepted_held_answer_becomes_no_task(asked, committed, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    committed(held_answer_accept, answer=held, actor=Actor.analyst(analyst))

    an_hour_passes(held)
    assert committed(held_answer_escalate, held.pk) is False
    assert committed(tasks.sweep_held_answers) == 0

    assert titles(request.incident) == ["Reset the credentials of Bob Builder"]
    assert kinds(request.incident, "answer.held_unconfirmed") == 0


def test_a_held_answer_the_person_sent_again_becomes_no_task(asked, committed):
    request = asked("failed-login")
    held = committed(hold, request)
    committed(
        answer_record,
        request=request,
        option_key="no",
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
    )
    an_hour_passes(held)

    assert committed(held_answer_escalate, held.pk) is False
    assert titles(request.incident) == ["Reset the credentials of Bob Builder"]


def test_held_answers_of_many_people_share_one_task(asked, committed):
    first, second = asked("failed-login"), asked("failed-login")
    # A campaign asks many people about one incident.
    ConfirmationRequest.objects.filter(pk=second.pk).update(incident=first.incident)
    held = [committed(hold, first), committed(hold, second)]

    for answer in held:
        an_hour_passes(answer)
        assert committed(held_answer_escalate, answer.pk) is True

    task = first.incident.tasks.get()
    assert [a.review_task for a in Answer.objects.order_by("pk")] == [task, task]
    assert kinds(first.incident, "answer.held_unconfirmed") == 2


def test_the_sweep_of_unconfirmed_held_answers_is_scheduled(db):
    sweep = Schedule.objects.get(func="mailflow.tasks.sweep_held_answers")
    assert (sweep.schedule_type, sweep.minutes, sweep.repeats) == (Schedule.MINUTES, 5, -1)
