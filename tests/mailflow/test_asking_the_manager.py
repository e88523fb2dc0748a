"""The shipped Failed sign-ins runbook asks Bob's manager when Bob does not answer: her own
question, email, links and answer, by the answer page or by reply; and the contact task
when neither answers or there is no manager to ask."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from incidents.models import Person
from mailflow.due_requests import requests_process_due
from mailflow.emails import build_request_email, reply_address
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_mark_undeliverable
from mailflow.sending import MAILER
from mailflow.tokens import bounce_token, page_token, reply_token, token_digest
from runbooks.models import Runbook, RunbookRun
from runbooks.versions import runbook_set_steps
from tests.builders.answers import FIREFOX, land, links, settle
from tests.builders.inbound import raw_reply
from tests.factories import PersonFactory, category, open_incident

pytestmark = pytest.mark.usefixtures("fresh_cache", "webhook_secret")
State = ConfirmationRequest.State
QUESTION = "Were the failed sign-in attempts on the account of Bob Builder made by them?"


@pytest.fixture
def carol(bob):
    """Bob's manager in the directory."""
    carol = PersonFactory(email="carol@corp.example.com", first_name="Carol", last_name="Chief")
    bob.manager = carol
    bob.save()
    return carol


def bobs_question_expires(committed, request: ConfirmationRequest) -> None:
    """Bob's 24 hours pass without an answer (the schedule expires his question)."""
    committed(requests_process_due, request.deadline_at + timedelta(minutes=1))


def managers_question(incident) -> ConfirmationRequest:
    return ConfirmationRequest.objects.get(incident=incident, step_position=2)


def notes_of(incident) -> list[str]:
    return list(incident.timeline.filter(kind="note.added").values_list("body", flat=True))


def titles(incident) -> list[str]:
    return list(incident.tasks.values_list("title", flat=True))


def tokens_of(request: ConfirmationRequest) -> list[str]:
    nonce = request.token_nonce
    return [page_token(nonce), reply_token(nonce), bounce_token(nonce)]


# --- the manager's own question and email -----------------------------------------------


def test_when_bob_does_not_answer_his_manager_gets_a_question_of_her_own(
    asked, committed, outbox, carol
):
    bobs = asked("failed-login")

    bobs_question_expires(committed, bobs)

    incident = bobs.incident
    hers = managers_question(incident)
    assert (hers.person, hers.recipient_email, hers.state) == (carol, carol.email, State.SENT)
    assert hers.question == QUESTION
    assert hers.token_hash != bobs.token_hash and hers.message_id != bobs.message_id
    assert RunbookRun.objects.get(incident=incident).state == RunbookRun.State.WAITING
    created = incident.timeline.filter(kind="request.created").order_by("pk").last()
    assert created.summary == f"Question for Carol Chief (manager of Bob Builder): {QUESTION}"
    assert created.data["request"] == hers.pk
    assert len(outbox) == 2  # Bob's question, then Carol's
    assert outbox[-1].to == ["carol@corp.example.com"]


def test_the_managers_email_says_whom_it_is_about_and_why_without_bobs_links(
    asked, committed, outbox, carol
):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)

    email = outbox[-1]
    html = email.alternatives[0][0]
    assert email.subject == (
        f"[{bobs.incident.number}] Please confirm recent sign-in attempts of Bob Builder"
    )
    assert email.body.startswith("Hello Carol,\n\nWe asked Bob Builder about this on ")
    deadline = timezone.localtime(bobs.deadline_at)
    assert f"got no answer by {deadline:%A %-d %B %Y, %H:%M}" in email.body
    assert "As their manager, can you answer for them?" in email.body
    assert "As their manager, can you answer for them?" in html
    assert "Bob Builder" in html and QUESTION in html
    # Her links, her reply address: nothing of Bob's question.
    for token in tokens_of(bobs):
        assert token not in email.body and token not in html
        assert token not in str(email.extra_headers) and token not in email.reply_to[0]
    assert email.reply_to == [reply_address(hers)]
    assert email.extra_headers["Message-ID"] == hers.message_id
    found = re.findall(r"/respond/([^/]+)/\?choice=(\w+)", email.body)
    assert {token_digest(token) for token, _ in found} == {hers.token_hash}
    assert [key for _, key in found] == ["yes", "no", "suspicious"]


def test_bobs_own_email_has_no_such_paragraph(asked, outbox, carol):
    asked("failed-login")

    assert outbox[0].body.startswith("Hello Bob,\n\nWe noticed several failed attempts")
    assert "manager" not in outbox[0].body and "manager" not in outbox[0].alternatives[0][0]


def test_an_undeliverable_email_to_bob_is_said_so_to_his_manager(asked, committed, outbox, carol):
    bobs = asked("failed-login")

    committed(request_mark_undeliverable, request=bobs, actor=MAILER, reason="5.1.1")

    assert outbox[-1].to == ["carol@corp.example.com"]
    assert (
        "We tried to ask Bob Builder about this, but our email could not be delivered."
        in outbox[-1].body
    )


def test_a_german_manager_gets_the_german_email(asked, committed, outbox, carol):
    Person.objects.filter(pk=carol.pk).update(language="de")
    bobs = asked("failed-login")

    bobs_question_expires(committed, bobs)

    assert outbox[-1].body.startswith("Hallo Carol,")
    assert "Bob Builder" in outbox[-1].body


# --- her answer, through the page and by reply ------------------------------------------


def test_the_manager_answers_no_on_the_answer_page_and_the_reset_task_follows(
    asked, committed, outbox, carol
):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)
    settle(hers)
    browser = Client(HTTP_USER_AGENT=FIREFOX)

    land(browser, links(outbox[-1])["no"])
    response = committed(browser.post, "/respond/", {"choice": "no"})

    assert response.status_code == 303
    answer = Answer.objects.get()
    assert (answer.request, answer.option_key, answer.counted) == (hers, "no", True)
    incident = bobs.incident
    assert notes_of(incident) == [
        "Carol Chief (manager of Bob Builder) said the failed sign-ins were not made by Bob "
        "Builder (No, that was not them, by answer page). The account may be under attack."
    ]
    assert titles(incident) == ["Reset the credentials of Bob Builder"]
    reset = incident.tasks.get()
    assert reset.description.startswith("Carol Chief (manager of Bob Builder) denied")
    assert RunbookRun.objects.get(incident=incident).state == RunbookRun.State.COMPLETED
    bobs.refresh_from_db()
    assert bobs.state == State.NO_ANSWER


def test_the_manager_replies_yes_by_email_and_the_confirmation_is_noted(
    asked, committed, deliver, carol
):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)

    inbound = deliver(raw_reply(hers, "Yes", sender="carol@corp.example.com"))

    assert inbound.status == "answered"
    answer = Answer.objects.get()
    assert (answer.request, answer.option_key, answer.channel) == (hers, "yes", "email_reply")
    assert notes_of(bobs.incident) == [
        "Carol Chief (manager of Bob Builder) confirmed the failed sign-ins were made by Bob "
        "Builder (Yes, that was them, by email reply)."
    ]
    assert titles(bobs.incident) == []


def test_a_reply_from_bob_to_his_closed_question_does_not_answer_for_his_manager(
    asked, committed, deliver, carol
):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)

    deliver(raw_reply(bobs, "No"))
    deliver(raw_reply(hers, "Yes", sender="carol@corp.example.com"))

    run = RunbookRun.objects.get(incident=bobs.incident)
    assert run.state == RunbookRun.State.COMPLETED
    assert run.context["outcome"] == "yes"  # Carol's, not Bob's late "no"
    assert Answer.objects.get(request=bobs).late is True
    hers.refresh_from_db()
    assert hers.state == State.ANSWERED


def test_a_duplicate_reply_from_the_manager_is_one_answer(asked, committed, deliver, carol):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)
    raw = raw_reply(hers, "No", sender="carol@corp.example.com")

    deliver(raw)
    deliver(raw)

    assert Answer.objects.filter(request=hers).count() == 1
    assert titles(bobs.incident) == ["Reset the credentials of Bob Builder"]
    assert bobs.incident.timeline.filter(kind="runbook.resumed").count() == 2


# --- nobody answers, nobody to ask ------------------------------------------------------


def test_when_the_manager_does_not_answer_either_an_analyst_calls_bob(
    asked, committed, outbox, carol
):
    bobs = asked("failed-login")
    bobs_question_expires(committed, bobs)
    hers = managers_question(bobs.incident)

    committed(requests_process_due, hers.deadline_at + timedelta(minutes=1))

    assert titles(bobs.incident) == ["Contact Bob Builder directly"]
    assert "No answer from Carol Chief by the deadline" in list(
        bobs.incident.timeline.values_list("summary", flat=True)
    )


def test_without_a_manager_the_contact_task_follows_at_once(asked, committed, outbox):
    bobs = asked("failed-login")

    bobs_question_expires(committed, bobs)

    incident = bobs.incident
    assert ConfirmationRequest.objects.filter(incident=incident).count() == 1
    assert titles(incident) == ["Contact Bob Builder directly"]
    assert "nobody to ask: Bob Builder has no manager in the directory" in (
        incident.tasks.get().description
    )
    entry = incident.timeline.get(kind="runbook.no_target")
    assert entry.summary == "Nobody asked: Bob Builder has no manager in the directory"
    assert RunbookRun.objects.get(incident=incident).state == RunbookRun.State.COMPLETED


# --- a group mailbox --------------------------------------------------------------------


def test_a_group_mailbox_is_greeted_without_a_name(shipped, committed, outbox, bob):
    PersonFactory(
        email="desk@corp.example.com", first_name="Service desk", last_name="",
        kind=Person.Kind.GROUP,
    )  # fmt: skip
    runbook = Runbook.objects.create(name="Ask the desk")
    runbook_set_steps(
        runbook=runbook,
        steps=[
            {
                "action": "ask_user",
                "params": {
                    "question": "Did {person_name} call you today?",
                    "options": [{"key": "yes", "label": "Yes"}, {"key": "no", "label": "No"}],
                    "target": "group",
                    "target_email": "desk@corp.example.com",
                },
            }
        ],
    )

    incident = committed(open_incident, category=category("phishing"), affected_user=bob)

    request = ConfirmationRequest.objects.get(incident=incident)
    email = build_request_email(request)
    assert email.to == ["desk@corp.example.com"]
    assert email.body.startswith("Hello,\n\nThis question is about Bob Builder.\n")
    assert "We hope someone on your team can answer for them." in email.body
    created = incident.timeline.get(kind="request.created")
    assert created.summary.startswith(
        "Question for Service desk (group mailbox, asked about Bob Builder): Did Bob"
    )
    assert outbox[-1].to == ["desk@corp.example.com"]
