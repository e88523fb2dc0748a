"""Answers held as a possible mail scanner: an analyst accepts one through answer_record,
and only while its question is open and unsettled."""

import pytest

from incidents.actors import Actor
from incidents.errors import DomainError
from mailflow.held_answers import held_answer_accept
from mailflow.models import Answer, ConfirmationRequest
from mailflow.services import answer_record, request_expire
from runbooks.models import RunbookRun

State = ConfirmationRequest.State
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0 Safari/537.36"


def hold(request: ConfirmationRequest, option: str = "no") -> Answer:
    """Bob's answer from the page, taken for a scanner (as the page does)."""
    return answer_record(
        request=request,
        option_key=option,
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
        comment="Not me, I was on holiday.",
        suspected_automated=True,
        user_agent=HEADLESS,
    )


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
