"""What processing makes of each kind of inbound message: correlation routes, sender
checks, auto-replies and bounces (posted through Postmark's webhook with raw MIME)."""

import base64
import hashlib

import pytest
from django.test import override_settings

from incidents.models import Evidence
from mailflow.answers import answer_record
from mailflow.emails import reply_address
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import StepResult
from tests.builders.inbound import PNG_HEADER, delivery_report, message, titles

pytestmark = pytest.mark.usefixtures("webhook_secret")


def test_a_reply_is_matched_by_in_reply_to_when_the_reply_address_is_gone(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(
        message(to="soc@example.com", headers=f"In-Reply-To: {request.message_id}\r\n")
    )

    assert (inbound.correlation, inbound.status) == ("message id", "answered")
    assert titles(request) == ["Reset the credentials of Bob Builder"]


def test_a_reply_matched_by_the_subject_tag_alone_is_held_not_taken(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(
        message(to="soc@example.com", subject=f"Re: [{request.incident.number}] Please confirm")
    )

    assert (inbound.status, inbound.correlation, inbound.request) == (
        "flagged",
        "subject tag",
        request,
    )
    assert not Answer.objects.exists()
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.SENT
    assert request.incident.timeline.filter(kind="reply.unverified").count() == 1


def test_an_unknown_reply_address_naming_an_open_incident_gets_an_analyst_task(asked, deliver):
    request = asked("failed-login")
    ConfirmationRequest.objects.filter(pk=request.pk).update(state="cancelled")

    inbound = deliver(
        message(
            to=f"reply+{'a' * 32}@reply.localhost",
            subject=f"Re: [{request.incident.number}] Please confirm",
        )
    )

    assert (inbound.status, inbound.correlation) == ("flagged", "subject tag")
    assert not Answer.objects.exists()
    number = request.incident.number
    assert titles(request) == [f"Verify emails that name {number} without our reply address"]
    assert request.incident.timeline.filter(kind="reply.unverified").count() == 1


def test_a_reply_matching_nothing_is_kept_and_flagged(asked, deliver):
    inbound = deliver(message(to=f"reply+{'b' * 32}@reply.localhost"))

    assert (inbound.status, inbound.correlation) == ("flagged", "none")
    assert inbound.raw.size > 0


def test_a_reply_from_someone_else_is_not_the_answer_and_an_analyst_verifies_it(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(message(to=reply_address(request), sender="mallory@evil.example.net"))

    assert inbound.status == "flagged"
    answer = Answer.objects.get()
    assert (answer.sender_mismatch, answer.counted) == (True, False)
    assert titles(request) == ["Verify reply from mallory@evil.example.net"]
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.SENT


def test_a_reply_failing_dmarc_is_not_the_answer(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(
        message(
            to=reply_address(request),
            headers="Authentication-Results: mx.example.com; dmarc=fail header.from=corp\r\n",
        )
    )

    assert inbound.status == "flagged" and "DMARC fail" in inbound.reason
    assert titles(request) == ["Verify reply from bob@corp.example.com"]


def test_an_out_of_office_reply_is_noted_and_never_an_answer(asked, deliver, outbox):
    request = asked("failed-login")

    inbound = deliver(
        message(
            to=reply_address(request),
            subject="Automatic reply: Please confirm",
            body="I am out of the office until Monday. Yes, I will read it then.",
            headers="Auto-Submitted: auto-replied\r\n",
        )
    )

    assert (inbound.status, inbound.classification) == ("flagged", "auto_reply")
    assert not Answer.objects.exists()
    assert request.incident.timeline.filter(kind="reply.automatic").count() == 1
    assert len(outbox) == 1  # never answered back


def test_a_bounce_makes_the_request_undeliverable_and_the_runbook_takes_that_branch(asked, deliver):
    request = asked("failed-login")
    bounce = delivery_report(request)

    inbound = deliver(bounce)

    assert inbound.classification == "bounce"
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.UNDELIVERABLE
    assert titles(request) == ["Contact Bob Builder directly"]


def exim_delay_warning(returned_headers: str, subject: str = "Warning: message delayed") -> str:
    """Exim's delay warning: plain text, no report part, the original's headers below."""
    return (
        "Return-Path: <>\r\n"
        "From: Mail Delivery System <Mailer-Daemon@mx.corp.example.com>\r\n"
        f"To: soc@example.com\r\nSubject: {subject}\r\n"
        "Message-ID: <E1delay-0001@mx.corp.example.com>\r\nAuto-Submitted: auto-replied\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This message was created automatically by mail delivery software.\r\n"
        "A message that you sent has not yet been delivered to one or more of its\r\n"
        "recipients after more than 24 hours on the queue on mx.corp.example.com.\r\n\r\n"
        "  bob@corp.example.com\r\n    Delay reason: SMTP error from remote mail server\r\n"
        "    452 4.2.2 Mailbox full\r\n\r\n"
        "No action is required on your part. Delivery attempts will continue for some time.\r\n"
        f"\r\n------ This is a copy of the message's headers. ------\r\n\r\n{returned_headers}"
    )


def test_a_delay_warning_is_noted_and_never_ends_the_question(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(
        exim_delay_warning(f"Message-ID: {request.message_id}\r\nSubject: Please confirm\r\n")
    )

    assert (inbound.status, inbound.classification) == ("ignored", "delay")
    assert inbound.request == request and "Delay:" in inbound.reason
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.SENT
    assert titles(request) == []
    entry = request.incident.timeline.get(kind="request.delayed")
    assert entry.actor_kind == "email_provider" and "stays open" in entry.summary
    assert not request.incident.timeline.filter(kind="request.undeliverable").exists()


def test_a_delay_warning_tied_only_by_the_subject_tag_notes_nothing(asked, deliver):
    request = asked("failed-login")
    number = request.incident.number

    inbound = deliver(
        exim_delay_warning("Subject: x\r\n", subject=f"Warning: message delayed [{number}]")
    )

    assert (inbound.status, inbound.classification) == ("ignored", "delay")
    assert not request.incident.timeline.filter(kind="request.delayed").exists()
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.SENT


# --- attachments ------------------------------------------------------------------------


def reply_with_parts(request, *parts: str) -> str:
    """A plain-text "Yes" reply with MIME parts (each its headers, blank line, base64)."""
    boundary = "part-boundary"
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
    return (
        f"From: Bob Builder <bob@corp.example.com>\r\nTo: {reply_address(request)}\r\n"
        "Subject: Re: question\r\nMessage-ID: <parts@corp.example.com>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYes\r\n{body}--{boundary}--\r\n"
    )


def image_part(name: str, content: bytes, *, content_id: str = "", disposition="attachment"):
    cid = f"Content-ID: <{content_id}>\r\n" if content_id else ""
    return (
        f'Content-Type: image/png; name="{name}"\r\n{cid}'
        f'Content-Disposition: {disposition}; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(content).decode()
    )


def test_a_small_picture_is_evidence_but_a_small_image_embedded_by_content_id_is_a_logo(
    asked, deliver
):
    request = asked("policy-violation")
    small = PNG_HEADER + b"screenshot" * 50  # well under the 10 KB logo threshold
    logo = PNG_HEADER + b"logo" * 50

    deliver(
        reply_with_parts(
            request,
            image_part("shot.png", small, disposition="inline"),  # Apple Mail's way
            image_part("image001.png", logo, content_id="image001.png@01DC", disposition="inline"),
        )
    )

    assert list(Evidence.objects.values_list("filename", "sha256")) == [
        ("shot.png", hashlib.sha256(small).hexdigest())
    ]
    step = StepResult.objects.get(run=request.run, action="file_evidence")
    assert step.detail == f"1 file(s) from the answers to question {request.pk}"


def test_an_attachment_over_the_evidence_limit_is_not_filed_and_the_answer_still_counts(
    asked, deliver
):
    request = asked("policy-violation")
    fits, too_large = PNG_HEADER + b"a" * 100, PNG_HEADER + b"b" * 5000

    with override_settings(EVIDENCE_MAX_BYTES=2000):
        inbound = deliver(
            reply_with_parts(
                request, image_part("fits.png", fits), image_part("huge.png", too_large)
            )
        )

    assert inbound.status == "answered", inbound.reason
    assert "huge.png" in inbound.reason
    assert Answer.objects.get().counted
    assert list(Evidence.objects.values_list("filename", flat=True)) == ["fits.png"]
    (note,) = request.incident.timeline.filter(kind="reply.attachments_skipped")
    assert "huge.png" in note.body and f"inbound email {inbound.pk}" in note.body
    assert inbound.raw.size > len(too_large)  # the original keeps it


def test_a_dangerous_attachment_is_filed_but_quarantined(asked, deliver):
    request = asked("policy-violation")
    part = (
        'Content-Type: application/octet-stream; name="invoice.pdf.exe"\r\n'
        'Content-Disposition: attachment; filename="invoice.pdf.exe"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(b"MZ\x90\x00" + b"\x00" * 200).decode()
    )

    inbound = deliver(reply_with_parts(request, part))

    assert inbound.status == "answered"
    evidence = Evidence.objects.get()
    assert evidence.quarantine_reason == "a .exe file can run code when opened"
    assert evidence.download_filename == "invoice.pdf.exe.quarantined"


# --- a reply after the question was answered --------------------------------------------


def _answered_on_the_page(request, committed, option: str = "yes") -> None:
    committed(answer_record, request=request, option_key=option, channel=Answer.Channel.PAGE)


def test_a_reply_with_the_same_answer_adds_its_screenshot_as_more_information(
    asked, deliver, committed
):
    request = asked("policy-violation")
    _answered_on_the_page(request, committed)
    screenshot = PNG_HEADER + b"later" * 50

    inbound = deliver(reply_with_parts(request, image_part("later.png", screenshot)))

    assert inbound.status == "answered"
    assert Answer.objects.count() == 1  # still the one answer, from the page
    more = request.incident.timeline.get(kind="answer.additional")
    assert more.data["files"] == 1
    assert list(Evidence.objects.values_list("filename", flat=True)) == ["later.png"]
    assert titles(request) == [
        "Confirm the download with the user",
        "Analyse the evidence provided by the user",
    ]  # the runbook acted once


def test_a_reply_contradicting_the_answer_is_flagged_for_an_analyst(asked, deliver, committed):
    request = asked("policy-violation")
    _answered_on_the_page(request, committed, "yes")

    inbound = deliver(message(to=reply_address(request), body="No"))

    first, revision = Answer.objects.order_by("id")
    assert (first.option_key, first.counted) == ("yes", True)
    assert (revision.option_key, revision.is_revision, revision.counted) == ("no", True, False)
    assert inbound.answer == revision
    assert request.incident.timeline.filter(kind="answer.revised").count() == 1
    review = "Review changed answer from bob@corp.example.com"
    assert [title for title in titles(request) if title.startswith(review)] == [
        f"{review} (Yes, I downloaded this file → No, I did not)"
    ]
