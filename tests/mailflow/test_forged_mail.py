"""Mail an attacker can write without our secrets: a reply or a bounce that names the
incident in its subject, spoofed from the person asked. Only our reply token or one of
our Message-IDs makes a reply the answer or a bounce end a question; the rest is held for
an analyst, one task per incident however many arrive, and an analyst may accept a held
reply as the answer after verifying it."""

import base64

import pytest
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError
from incidents.models import Evidence, ResponseTask, TimelineEntry
from incidents.services import task_transition
from mailflow.emails import reply_address
from mailflow.inbound_review import UNVERIFIED_TOPIC, inbound_accept_as_answer
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from tests.builders.inbound import PNG_HEADER, message, spoofed, titles

pytestmark = pytest.mark.usefixtures("webhook_secret")


def state_of(request) -> str:
    request.refresh_from_db()
    return request.state


# --- forged answers ---------------------------------------------------------------------


def test_a_spoofed_reply_naming_the_incident_in_its_subject_is_not_the_answer(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(spoofed(request, body="Yes"))

    assert not Answer.objects.exists()
    assert state_of(request) == ConfirmationRequest.State.SENT
    assert (inbound.status, inbound.correlation, inbound.request) == (
        "flagged",
        "subject tag",
        request,
    )
    assert "It reads as “Yes, that was me”" in inbound.reason
    held = request.incident.timeline.get(kind="reply.unverified")
    assert held.data["inbound_email"] == inbound.pk
    assert "Yes" in held.body
    # No branch was taken: the runbook created no task of its own.
    assert titles(request) == [
        f"Verify emails that name {request.incident.number} without our reply address"
    ]


def test_a_reply_carrying_our_message_id_in_its_references_is_the_answer(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(
        message(
            to="soc@example.com",
            body="No",
            headers=f"References: <older@corp.example.com> {request.message_id}\r\n",
        )
    )

    assert (inbound.status, inbound.correlation) == ("answered", "message id")
    assert state_of(request) == ConfirmationRequest.State.ANSWERED


def test_twenty_five_forged_emails_make_one_task_and_are_counted(asked, deliver):
    request = asked("failed-login")

    for n in range(25):
        deliver(spoofed(request, body="URGENT: close this incident now", mid=f"flood{n}"))

    tasks = ResponseTask.objects.filter(incident=request.incident)
    assert [(t.topic, t.state) for t in tasks] == [(UNVERIFIED_TOPIC, "open")]
    assert "URGENT" not in tasks[0].title + tasks[0].description
    held = request.incident.timeline.filter(kind="reply.unverified").order_by("pk")
    assert [e.data["count"] for e in held] == list(range(1, 26))
    assert {e.task_id for e in held} == {tasks[0].pk}
    assert held.last().summary.startswith("Email 25 to verify")
    assert InboundEmail.objects.filter(status="flagged").count() == 25
    assert state_of(request) == ConfirmationRequest.State.SENT


def test_an_email_after_the_analyst_closed_the_task_opens_a_new_one(asked, deliver, analyst):
    request = asked("failed-login")
    deliver(spoofed(request, mid="first"))
    task = ResponseTask.objects.get(topic=UNVERIFIED_TOPIC)
    task_transition(actor=Actor.analyst(analyst), task=task, to_state="completed")

    deliver(spoofed(request, mid="second"))

    assert list(
        ResponseTask.objects.filter(topic=UNVERIFIED_TOPIC).values_list("state", flat=True)
    ) == ["completed", "open"]


def test_a_reply_to_an_unknown_reply_address_joins_the_same_task(asked, deliver):
    request = asked("failed-login")
    deliver(spoofed(request, mid="tagged"))

    deliver(spoofed(request, mid="token", to=f"reply+{'a' * 32}@reply.localhost"))

    assert ResponseTask.objects.filter(incident=request.incident).count() == 1
    assert request.incident.timeline.filter(kind="reply.unverified").count() == 2


# --- an analyst accepts a held reply -----------------------------------------------------


def held_reply_with_screenshot(request) -> str:
    png = base64.encodebytes(PNG_HEADER + b"\x00" * 20_000).decode()
    return (
        "From: Bob Builder <bob@corp.example.com>\r\nTo: soc@example.com\r\n"
        f"Subject: Re: [{request.incident.number}] Please confirm\r\n"
        "Message-ID: <held@corp.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYes, I downloaded it.\r\n"
        '--b\r\nContent-Type: image/png; name="shot.png"\r\n'
        'Content-Disposition: attachment; filename="shot.png"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{png}--b--\r\n"
    )


def test_an_analyst_accepts_a_held_reply_and_the_runbook_branches_on_it(
    asked, deliver, analyst, committed
):
    request = asked("policy-violation")
    inbound = deliver(held_reply_with_screenshot(request))
    assert not Evidence.objects.exists()  # nothing filed from an unverified email

    answer = committed(
        inbound_accept_as_answer, inbound=inbound, option_key="yes", actor=Actor.analyst(analyst)
    )

    assert (answer.counted, answer.accepted_by, answer.channel) == (True, analyst, "email_reply")
    assert state_of(request) == ConfirmationRequest.State.ANSWERED
    inbound.refresh_from_db()
    assert (inbound.status, inbound.answer) == ("answered", answer)
    entry = request.incident.timeline.get(kind="answer.received")
    assert (entry.actor_kind, entry.actor_user) == ("analyst", analyst)
    assert "accepted by" in entry.summary
    assert "Analyse the evidence provided by the user" in titles(request)
    evidence = Evidence.objects.get()
    assert (evidence.filename, evidence.provenance["accepted_by"]) == ("shot.png", "Alice Analyst")


def test_accepting_refuses_an_option_the_question_lacks_and_a_second_accept(
    asked, deliver, analyst, committed
):
    request = asked("failed-login")
    inbound = deliver(spoofed(request))
    actor = Actor.analyst(analyst)

    with pytest.raises(DomainError):
        inbound_accept_as_answer(inbound=inbound, option_key="unrecognised", actor=actor)
    committed(inbound_accept_as_answer, inbound=inbound, option_key="yes", actor=actor)
    with pytest.raises(DomainError):
        inbound_accept_as_answer(inbound=inbound, option_key="no", actor=actor)

    assert Answer.objects.count() == 1


def test_an_answered_reply_cannot_be_accepted_again(asked, deliver, analyst):
    request = asked("failed-login")
    inbound = deliver(message(to=reply_address(request), body="No"))

    with pytest.raises(DomainError):
        inbound_accept_as_answer(inbound=inbound, option_key="yes", actor=Actor.analyst(analyst))


def test_the_inbound_page_accepts_a_held_reply_with_one_click(
    asked, deliver, client, analyst, committed
):
    request = asked("failed-login")
    inbound = deliver(spoofed(request, body="No"))
    client.force_login(analyst)
    page = client.get(reverse("admin:mailflow_inboundemail_change", args=[inbound.pk]))
    accept = reverse("admin:mailflow_inboundemail_accept", args=[inbound.pk])
    assert f'formaction="{accept}"' in page.content.decode()
    assert client.get(accept).status_code == 404  # only a POST changes anything

    response = committed(client.post, accept, {"option": "no"})

    assert response.status_code == 302
    assert state_of(request) == ConfirmationRequest.State.ANSWERED
    assert Answer.objects.get().accepted_by == analyst
    assert "Reset the credentials of Bob Builder" in titles(request)
    page = client.get(reverse("admin:mailflow_inboundemail_change", args=[inbound.pk]))
    assert f'formaction="{accept}"' not in page.content.decode()


def test_a_runbook_author_cannot_accept_a_held_reply(asked, deliver, client):
    from django.contrib.auth.models import Group

    from incidents import groups
    from tests.factories import UserFactory

    author = UserFactory(username="rita", is_staff=True)
    author.groups.add(Group.objects.get(name=groups.RUNBOOK_AUTHOR))
    request = asked("failed-login")
    inbound = deliver(spoofed(request))
    client.force_login(author)

    response = client.post(
        reverse("admin:mailflow_inboundemail_accept", args=[inbound.pk]), {"option": "yes"}
    )

    assert response.status_code == 403
    assert state_of(request) == ConfirmationRequest.State.SENT


# --- forged bounces ---------------------------------------------------------------------


def bounce(request, *, to: str = "soc@example.com", headers: str = "", original: str = ""):
    returned = f"--b\r\nContent-Type: message/rfc822\r\n\r\n{original}\r\n" if original else ""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example.com>\r\n"
        f"To: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender [{request.incident.number}]\r\n"
        f"Message-ID: <bounce-{len(to)}-{len(original)}@mx.corp.example.com>\r\n{headers}"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        f"{returned}--b--\r\n"
    )


def test_a_forged_bounce_naming_the_incident_changes_nothing(asked, deliver, client):
    request = asked("failed-login")

    inbound = deliver(bounce(request))

    assert (inbound.classification, inbound.status) == ("bounce", "flagged")
    assert state_of(request) == ConfirmationRequest.State.SENT
    assert request.incident.timeline.filter(kind="bounce.unverified").count() == 1
    assert not request.incident.timeline.filter(kind="request.undeliverable").exists()
    assert titles(request) == []


@pytest.mark.parametrize("tie", ["reply address in To", "Message-ID returned", "In-Reply-To"])
def test_a_bounce_tied_to_our_email_ends_the_question(asked, deliver, tie):
    request = asked("failed-login")
    kwargs = {
        "reply address in To": {"to": reply_address(request)},
        "Message-ID returned": {
            "original": f"Message-ID: {request.message_id}\r\nSubject: x\r\n\r\nbody"
        },
        "In-Reply-To": {"headers": f"In-Reply-To: {request.message_id}\r\n"},
    }[tie]

    inbound = deliver(bounce(request, **kwargs))

    assert (inbound.classification, inbound.status) == ("bounce", "ignored")
    assert state_of(request) == ConfirmationRequest.State.UNDELIVERABLE
    assert titles(request) == ["Contact Bob Builder directly"]
    assert TimelineEntry.objects.filter(kind="bounce.unverified").count() == 0


def test_a_held_reply_in_a_campaign_suggests_the_question_asked_of_its_sender(
    shipped, committed, deliver, analyst
):
    from runbooks.starting import runs_start_for_people
    from tests.factories import PersonFactory, category, open_incident

    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(3)]
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )
    asked_second = ConfirmationRequest.objects.get(incident=incident, person=people[1])

    inbound = deliver(
        message(
            to="soc@example.com",
            sender=people[1].email,
            subject=f"Re: [{incident.number}] Did you click?",
            body="No",
        )
    )

    assert (inbound.status, inbound.request) == ("flagged", asked_second)
    committed(
        inbound_accept_as_answer,
        inbound=inbound,
        option_key=asked_second.options[1]["key"],
        actor=Actor.analyst(analyst),
    )
    assert state_of(asked_second) == ConfirmationRequest.State.ANSWERED


def test_accepting_a_reply_from_another_sender_files_its_attachments_once(
    asked, deliver, analyst, committed
):
    request = asked("policy-violation")
    # Our reply address, but from another mailbox: flagged, its screenshot filed as
    # evidence of the flagged answer.
    raw = (
        held_reply_with_screenshot(request)
        .replace("To: soc@example.com", f"To: {reply_address(request)}")
        .replace("bob@corp.example.com", "bob.builder@home.example.net")
    )
    inbound = deliver(raw)
    assert (inbound.status, Evidence.objects.count()) == ("flagged", 1)

    committed(
        inbound_accept_as_answer, inbound=inbound, option_key="yes", actor=Actor.analyst(analyst)
    )

    assert state_of(request) == ConfirmationRequest.State.ANSWERED
    assert Evidence.objects.count() == 1
