"""Delivery tracking through anymail's real webhook URLs: Postmark and Mailgun payloads as
those providers post them, authenticated as anymail checks them."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from incidents.models import TimelineEntry
from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest, TrackingEvent
from mailflow.tracking import tracking_event_process, tracking_sweep
from tests.builders.tracking import (
    BOB,
    MAILGUN_URL,
    POSTMARK_URL,
    SECRET,
    SENDGRID_URL,
    SES_URL,
    SIGNING_KEY,
    assert_took_the_undeliverable_branch,
    basic_auth,
    kinds,
    mailgun_delivered,
    mailgun_event,
    mailgun_signature,
    post,
    postmark_bounce,
    titles,
)
from tests.factories import UserFactory

State = ConfirmationRequest.State

pytestmark = pytest.mark.usefixtures("webhook_settings")


@pytest.fixture
def webhook_settings():
    with override_settings(
        ANYMAIL={"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    ):
        yield


# --- payloads, as the providers document them -------------------------------------------


def postmark_delivery(request: ConfirmationRequest, **changes) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": BOB,
        "Tag": "",
        "DeliveredAt": "2025-03-04T10:15:30.1234567Z",
        "Details": "smtp;250 2.0.0 OK",
        "Metadata": {"request_id": str(request.pk)},
        **changes,
    }


def mailgun_failed(request: ConfirmationRequest, severity: str = "permanent") -> dict:
    status = {
        "attempt-no": 1,
        "code": 550,
        "description": "",
        "message": "5.1.1 The email account that you tried to reach does not exist.",
    }
    return mailgun_event(
        request, "failed", severity=severity, reason="bounce", **{"delivery-status": status}
    )


def sendgrid_bounce(request: ConfirmationRequest, bounce_type: str) -> list[dict]:
    # SendGrid posts a list of events; "type" tells a bounce from a block.
    return [
        {
            "email": BOB,
            "timestamp": 1741083330,
            "smtp-id": "<wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net>",
            "event": "bounce",
            "category": [],
            "sg_event_id": f"lC0Rc-FuQmKbnxCWxX1jR{bounce_type[0]}",
            "sg_message_id": "Lli-03HcQ5-JLybO9fXsJg.filter0077p1las1.21536.5717FC482.0",
            "reason": "421 4.7.0 Try again later, closing connection.",
            "status": "4.7.0",
            "type": bounce_type,
            "tls": 1,
            "ip": "192.0.2.17",
            "anymail_id": "de212213-bb66-4302-8f3f-20acdb7a104e",
            "request_id": str(request.pk),
        }
    ]


def ses_bounce(request: ConfirmationRequest, bounce_type: str, sub_type: str) -> dict:
    """An SES bounce as SNS posts it: the event JSON inside the notification's Message."""
    event = {
        "eventType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [
                {
                    "emailAddress": BOB,
                    "action": "failed",
                    "status": "4.2.2" if bounce_type == "Transient" else "5.1.1",
                    "diagnosticCode": "smtp; 452 4.2.2 Mailbox full",
                }
            ],
            "timestamp": "2025-03-04T10:15:31.000Z",
            "feedbackId": "0102017e-transient-bounce",
            "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
        },
        "mail": {
            "timestamp": "2025-03-04T10:15:30.000Z",
            "source": "soc@soc.example.com",
            "messageId": "0102017e-0000-4000-8000-000000000001",
            "destination": [BOB],
            "headersTruncated": False,
            "headers": [
                {"name": "X-Metadata", "value": json.dumps({"request_id": str(request.pk)})}
            ],
        },
    }
    return {
        "Type": "Notification",
        "MessageId": f"19ba9823-d7f2-53c1-860e-cb10e0d13dfc-{bounce_type}",
        "TopicArn": "arn:aws:sns:eu-west-1:111111111111:soc-tracking",
        "Message": json.dumps(event),
        "Timestamp": "2025-03-04T10:15:32.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE==",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def post_ses(client, committed, notification: dict):
    return committed(
        client.post,
        SES_URL,
        data=json.dumps(notification),
        content_type="text/plain; charset=UTF-8",  # what SNS sends
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID=notification["MessageId"],
        HTTP_X_AMZ_SNS_TOPIC_ARN=notification["TopicArn"],
        **basic_auth(),
    )


# --- delivered --------------------------------------------------------------------------


def test_a_postmark_delivery_marks_the_request_delivered(asked, client, committed):
    request = asked("failed-login")
    payload = postmark_delivery(request)

    response = post(client, committed, POSTMARK_URL, payload)

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == State.DELIVERED
    assert request.delivered_at == datetime(2025, 3, 4, 10, 15, 30, 123456, tzinfo=UTC)
    entry = request.incident.timeline.get(kind="request.delivered")
    assert (entry.actor_kind, entry.actor_name) == ("email_provider", "Postmark")
    event = TrackingEvent.objects.get()
    assert (event.provider, event.event_type, event.request) == ("Postmark", "delivered", request)
    assert event.message_id == payload["MessageID"]
    assert event.recipient == BOB
    assert event.processed_at is not None
    assert event.raw == payload


def test_a_mailgun_delivery_marks_the_request_delivered(asked, client, committed):
    request = asked("failed-login")
    payload = mailgun_delivered(request)

    response = post(client, committed, MAILGUN_URL, payload)

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == State.DELIVERED
    assert request.delivered_at == datetime.fromtimestamp(1741083330.908181, tz=UTC)
    assert kinds(request).count("request.delivered") == 1
    event = TrackingEvent.objects.get()
    assert (event.provider, event.event_type) == ("Mailgun", "delivered")
    assert event.event_id == payload["signature"]["token"]
    assert event.message_id == request.message_id


def test_an_event_without_metadata_is_matched_by_the_providers_message_id(asked, client, committed):
    request = asked("failed-login")
    payload = postmark_delivery(request, Metadata={})
    ConfirmationRequest.objects.filter(pk=request.pk).update(
        provider_message_id=payload["MessageID"]
    )

    post(client, committed, POSTMARK_URL, payload)

    request.refresh_from_db()
    assert request.state == State.DELIVERED
    assert TrackingEvent.objects.get().request == request


# --- undeliverable ----------------------------------------------------------------------


def test_a_postmark_hard_bounce_takes_the_undeliverable_branch(asked, client, committed):
    request = asked("failed-login")

    response = post(client, committed, POSTMARK_URL, postmark_bounce(request))

    assert response.status_code == 200
    assert_took_the_undeliverable_branch(request)
    entry = request.incident.timeline.get(kind="request.undeliverable")
    assert "unknown user" in entry.body and "550 5.1.1" in entry.body
    assert entry.actor_name == "Postmark"
    event = TrackingEvent.objects.get()
    assert (event.event_type, event.event_id) == ("bounced", "4323372036854775807")


def test_a_mailgun_permanent_failure_takes_the_undeliverable_branch(asked, client, committed):
    request = asked("failed-login")

    response = post(client, committed, MAILGUN_URL, mailgun_failed(request))

    assert response.status_code == 200
    assert_took_the_undeliverable_branch(request)
    entry = request.incident.timeline.get(kind="request.undeliverable")
    assert "5.1.1 The email account" in entry.body
    assert entry.actor_name == "Mailgun"


def test_a_bounce_after_the_delivery_still_makes_the_request_undeliverable(
    asked, client, committed
):
    request = asked("failed-login")

    post(client, committed, POSTMARK_URL, postmark_delivery(request))
    post(client, committed, POSTMARK_URL, postmark_bounce(request))

    assert_took_the_undeliverable_branch(request)


def test_a_mailgun_temporary_failure_is_only_stored(asked, client, committed):
    request = asked("failed-login")
    before = kinds(request)

    post(client, committed, MAILGUN_URL, mailgun_failed(request, severity="temporary"))

    request.refresh_from_db()
    assert request.state == State.SENT
    assert kinds(request) == before
    event = TrackingEvent.objects.get()
    assert event.event_type == "deferred" and event.processed_at is not None


def assert_noted_and_still_open(request: ConfirmationRequest, provider: str) -> None:
    request.refresh_from_db()
    assert request.state == State.SENT
    assert titles(request) == []
    assert "request.undeliverable" not in kinds(request)
    entry = request.incident.timeline.get(kind="request.delayed")
    assert entry.actor_name == provider and "not reached yet" in entry.summary
    assert TrackingEvent.objects.get().processed_at is not None


def test_a_postmark_soft_bounce_is_noted_and_keeps_the_question_open(asked, client, committed):
    request = asked("failed-login")
    payload = postmark_bounce(
        request,
        Type="SoftBounce",
        TypeCode=4096,
        Name="Soft bounce",
        Description="Unable to temporarily deliver this email.",
        Details="smtp;452 4.2.2 The email account that you tried to reach is over quota.",
        Inactive=False,
    )

    response = post(client, committed, POSTMARK_URL, payload)

    assert response.status_code == 200
    assert TrackingEvent.objects.get().event_type == "bounced"  # as anymail maps it
    assert_noted_and_still_open(request, "Postmark")
    entry = request.incident.timeline.get(kind="request.delayed")
    assert "SoftBounce" in entry.summary and "over quota" in entry.body


def test_a_sendgrid_block_is_noted_and_keeps_the_question_open(asked, client, committed):
    request = asked("failed-login")

    response = post(client, committed, SENDGRID_URL, sendgrid_bounce(request, "blocked"))

    assert response.status_code == 200
    assert_noted_and_still_open(request, "SendGrid")


def test_a_sendgrid_hard_bounce_still_takes_the_undeliverable_branch(asked, client, committed):
    request = asked("failed-login")

    post(client, committed, SENDGRID_URL, sendgrid_bounce(request, "bounce"))

    assert_took_the_undeliverable_branch(request)


def test_an_amazon_ses_transient_bounce_is_noted_and_keeps_the_question_open(
    asked, client, committed
):
    request = asked("failed-login")

    response = post_ses(client, committed, ses_bounce(request, "Transient", "MailboxFull"))

    assert response.status_code == 200
    assert_noted_and_still_open(request, "Amazon SES")


def test_an_amazon_ses_permanent_bounce_takes_the_undeliverable_branch(asked, client, committed):
    request = asked("failed-login")

    post_ses(client, committed, ses_bounce(request, "Permanent", "NoEmail"))

    assert_took_the_undeliverable_branch(request)


# --- a lost enqueue ---------------------------------------------------------------------


def _lost_bounce(asked, client) -> tuple[ConfirmationRequest, TrackingEvent]:
    """A bounce stored by the webhook whose enqueue after commit never happened (the
    on-commit callbacks are not run), made older than the sweep's threshold."""
    request = asked("failed-login")
    response = client.post(
        POSTMARK_URL, postmark_bounce(request), content_type="application/json", **basic_auth()
    )
    assert response.status_code == 200
    TrackingEvent.objects.update(received_at=timezone.now() - timedelta(minutes=6))
    return request, TrackingEvent.objects.get()


def test_the_sweep_processes_an_event_whose_enqueue_was_lost(asked, client, committed):
    request, event = _lost_bounce(asked, client)
    assert event.processed_at is None and request.state == State.SENT

    assert committed(tracking_sweep) == 1

    event.refresh_from_db()
    assert event.processed_at is not None
    assert_took_the_undeliverable_branch(request)


def test_the_sweep_run_twice_acts_once(asked, client, committed):
    request, _ = _lost_bounce(asked, client)

    assert committed(tracking_sweep) == 1
    assert committed(tracking_sweep) == 0

    assert_took_the_undeliverable_branch(request)
    assert kinds(request).count("runbook.resumed") == 1


def test_the_sweep_leaves_a_recent_event_to_its_own_task(asked, client, committed):
    _, event = _lost_bounce(asked, client)
    TrackingEvent.objects.update(received_at=timezone.now())

    assert committed(tracking_sweep) == 0

    event.refresh_from_db()
    assert event.processed_at is None


def test_the_tracking_sweep_is_scheduled_like_the_inbound_sweep(db):
    inbound = Schedule.objects.get(func="mailflow.tasks.sweep_inbound")
    tracking = Schedule.objects.get(func="mailflow.tasks.sweep_tracking_events")

    assert (tracking.schedule_type, tracking.minutes, tracking.repeats) == (
        inbound.schedule_type,
        inbound.minutes,
        -1,
    )


# --- retries and strays -----------------------------------------------------------------


def test_the_same_event_posted_twice_is_processed_once(asked, client, committed):
    request = asked("failed-login")
    payload = mailgun_delivered(request)

    first = post(client, committed, MAILGUN_URL, payload)
    second = post(client, committed, MAILGUN_URL, payload)

    assert (first.status_code, second.status_code) == (200, 200)
    assert TrackingEvent.objects.count() == 1
    assert kinds(request).count("request.delivered") == 1


def test_the_same_bounce_posted_twice_resumes_the_run_once(asked, client, committed):
    request = asked("failed-login")

    post(client, committed, POSTMARK_URL, postmark_bounce(request))
    post(client, committed, POSTMARK_URL, postmark_bounce(request))

    assert TrackingEvent.objects.count() == 1
    assert_took_the_undeliverable_branch(request)
    assert kinds(request).count("runbook.resumed") == 1


def test_processing_an_event_again_does_nothing(asked, client, committed):
    request = asked("failed-login")
    post(client, committed, POSTMARK_URL, postmark_bounce(request))

    assert committed(tracking_event_process, TrackingEvent.objects.get().pk) == (
        "already processed"
    )
    assert kinds(request).count("request.undeliverable") == 1


def test_an_event_for_an_unknown_request_is_stored_and_ignored(asked, client, committed):
    request = asked("failed-login")
    before = kinds(request)

    response = post(
        client, committed, POSTMARK_URL, postmark_bounce(request, Metadata={"request_id": "999999"})
    )

    assert response.status_code == 200
    event = TrackingEvent.objects.get()
    assert event.request is None and event.processed_at is not None
    request.refresh_from_db()
    assert request.state == State.SENT
    assert kinds(request) == before


def test_an_event_with_a_malformed_request_id_is_stored_and_ignored(client, committed, db):
    payload = {"RecordType": "Delivery", "MessageID": "x", "Metadata": {"request_id": "1; --"}}

    response = post(client, committed, POSTMARK_URL, payload)

    assert response.status_code == 200
    assert TrackingEvent.objects.get().request is None
    assert not TimelineEntry.objects.exists()


def test_a_delivery_after_the_answer_changes_nothing(asked, client, committed):
    request = asked("failed-login")
    committed(answer_record, request=request, option_key="yes", channel=Answer.Channel.PAGE)
    before = kinds(request)

    post(client, committed, POSTMARK_URL, postmark_delivery(request))
    post(client, committed, MAILGUN_URL, mailgun_failed(request))

    request.refresh_from_db()
    assert (request.state, request.delivered_at) == (State.ANSWERED, None)
    assert kinds(request) == before
    assert TrackingEvent.objects.filter(processed_at__isnull=False).count() == 2


def test_a_delivery_after_a_bounce_changes_nothing(asked, client, committed):
    request = asked("failed-login")
    post(client, committed, MAILGUN_URL, mailgun_failed(request))
    before = kinds(request)

    post(client, committed, MAILGUN_URL, mailgun_delivered(request))

    request.refresh_from_db()
    assert request.state == State.UNDELIVERABLE
    assert kinds(request) == before


# --- complaints and automatic replies ---------------------------------------------------


def test_a_spam_complaint_is_noted_on_the_timeline(asked, client, committed):
    request = asked("failed-login")
    payload = postmark_bounce(
        request, RecordType="SpamComplaint", Type="SpamComplaint", ID=42, Description="Spam"
    )

    post(client, committed, POSTMARK_URL, payload)

    request.refresh_from_db()
    assert request.state == State.SENT
    entry = request.incident.timeline.get(kind="request.complained")
    assert entry.summary == "Bob Builder marked the email as spam"
    assert entry.actor_kind == "email_provider"


def test_an_automatic_reply_is_noted_but_is_no_answer(asked, client, committed):
    request = asked("failed-login")
    payload = postmark_bounce(request, Type="AutoResponder", ID=43, Description="Out of office")

    post(client, committed, POSTMARK_URL, payload)

    request.refresh_from_db()
    assert request.state == State.SENT
    entry = request.incident.timeline.get(kind="request.autoresponded")
    assert "automatic reply" in entry.summary
    assert not request.answers.exists()


def test_opens_and_clicks_are_only_stored(asked, client, committed):
    request = asked("failed-login")
    before = kinds(request)

    post(client, committed, MAILGUN_URL, mailgun_event(request, "opened"))

    assert TrackingEvent.objects.get().event_type == "opened"
    assert kinds(request) == before


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize("url", [POSTMARK_URL, MAILGUN_URL])
@pytest.mark.parametrize("auth", [{}, basic_auth("user:wrong"), {"HTTP_AUTHORIZATION": "Bearer x"}])
def test_a_webhook_without_the_right_basic_auth_is_refused(asked, client, committed, url, auth):
    request = asked("failed-login")
    payload = postmark_bounce(request) if url == POSTMARK_URL else mailgun_failed(request)

    response = post(client, committed, url, payload, auth=auth)

    assert response.status_code == 400
    assert not TrackingEvent.objects.exists()
    request.refresh_from_db()
    assert request.state == State.SENT


@pytest.mark.parametrize(
    "signature",
    [
        mailgun_signature(key="key-other"),
        {**mailgun_signature(), "token": "replaced"},
        {"timestamp": "1", "token": "t"},
    ],
)
def test_a_mailgun_webhook_with_a_bad_signature_is_refused(asked, client, committed, signature):
    request = asked("failed-login")

    response = post(
        client, committed, MAILGUN_URL, mailgun_failed(request) | {"signature": signature}
    )

    assert response.status_code == 400
    assert not TrackingEvent.objects.exists()


def test_the_logs_name_no_email_address(asked, client, committed, caplog):
    request = asked("failed-login")
    caplog.set_level(logging.DEBUG)

    post(client, committed, POSTMARK_URL, postmark_bounce(request))

    assert "Tracking event" in caplog.text
    assert BOB not in caplog.text


# --- admin ------------------------------------------------------------------------------


@pytest.fixture
def client_as_admin(client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_shows_requests_and_events_read_only_and_escaped(
    asked, client_as_admin, committed
):
    request = asked("failed-login")
    payload = postmark_bounce(request, Description="<script>alert(1)</script>")
    post(client_as_admin, committed, POSTMARK_URL, payload)
    event = TrackingEvent.objects.get()
    committed(
        answer_record, request=request, option_key="no", channel=Answer.Channel.PAGE,
        suspected_automated=True,
    )  # fmt: skip

    pages = [
        reverse("admin:mailflow_confirmationrequest_changelist"),
        reverse("admin:mailflow_confirmationrequest_changelist") + "?q=" + request.incident.number,
        reverse("admin:mailflow_confirmationrequest_change", args=[request.pk]),
        reverse("admin:mailflow_trackingevent_changelist") + "?event_type=bounced",
        reverse("admin:mailflow_trackingevent_change", args=[event.pk]),
    ]
    for url in pages:
        response = client_as_admin.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<script>alert(1)</script>" not in html, url
        assert 'name="_save"' not in html, url

    request_page = client_as_admin.get(pages[2]).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in request_page
    assert request.token_hash not in request_page
    assert "suspected automated" in request_page
    for name, pk in (("confirmationrequest", request.pk), ("trackingevent", event.pk)):
        assert client_as_admin.get(reverse(f"admin:mailflow_{name}_add")).status_code == 403
        delete = reverse(f"admin:mailflow_{name}_delete", args=[pk])
        assert client_as_admin.post(delete, {"post": "yes"}).status_code == 403


def test_an_event_that_always_fails_is_given_up_after_its_attempts(
    asked, client, committed, monkeypatch
):
    from mailflow import tracking

    request, event = _lost_bounce(asked, client)

    def broken(event):
        raise RuntimeError("a bug in processing")

    monkeypatch.setattr(tracking, "_apply", broken)
    for _ in range(tracking.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            committed(tracking_sweep)  # its task runs inline here, and fails

    assert committed(tracking_sweep) == 0
    event.refresh_from_db()
    assert (event.processed_at, event.attempts) == (None, tracking.MAX_ATTEMPTS)
    request.refresh_from_db()
    assert request.state == "sent"
