"""Input that poisons a naive receiver: NUL characters (PostgreSQL refuses them in text and
JSON, SQLite keeps them). Through the real anymail webhook views and the answer page; run
on PostgreSQL as well (DATABASE_URL=postgres://...)."""

import base64
import json
import re
import time
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from django.db import DataError
from django.test import override_settings
from django.urls import reverse

from bench.payloads import BOB
from bench.replies import reply_mime
from mailflow.emails import reply_address
from mailflow.inbound.process import inbound_process
from mailflow.models import Answer, InboundEmail, TrackingEvent
from mailflow.parsing import parse_message
from mailflow.parsing.message import MAX_DEPTH, MAX_PARSE_DEPTH, MAX_PARTS, walk_parts
from tests.builders.answers import land, links, settle
from tests.builders.inbound import (
    AUTH,
    PROVIDERS,
    deliver,
    mailgun_signature,
    post_json,
    post_sns,
)
from tests.builders.tracking import (
    POSTMARK_URL,
    assert_took_the_undeliverable_branch,
    postmark_bounce,
)
from tests.builders.tracking import post as post_tracking

pytestmark = [
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
    # A private cache per test; the webhook secrets.
    pytest.mark.usefixtures("fresh_cache", "webhook_secrets"),
]

State = InboundEmail.Status


# --- NUL in inbound email ---------------------------------------------------------------


def nul_reply(request) -> bytes:
    """A reply with NUL in its subject and in a Message-ID it refers to."""
    subject = f"Re: [{request.incident.number}] sign\x00-ins"
    raw = reply_mime(request, "No", subject=subject)
    return raw.replace(b"References: ", b"References: <forged\x00id@corp.example.com> ", 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_nul_in_an_inbound_subject_is_removed_and_the_reply_is_answered(
    asked, committed, client, provider
):
    request = asked("failed-login")

    response = deliver(committed, client, provider, nul_reply(request))

    assert response.status_code == 200
    stored = InboundEmail.objects.get()
    assert stored.subject == f"Re: [{request.incident.number}] sign-ins"
    assert stored.status == State.ANSWERED, stored.reason
    assert Answer.objects.get(request=request).option_key == "no"
    answered = request.incident.timeline.filter(kind="answer.received")
    assert answered.count() == 1


@pytest.mark.parametrize("provider", [name for name in PROVIDERS if name != "amazon-ses"])
def test_a_nul_in_a_post_read_by_the_worker_is_removed_and_the_reply_is_answered(
    asked, committed, client, provider
):
    request = asked("failed-login")
    with override_settings(INBOUND_DEFER_BYTES=0):
        response = deliver(committed, client, provider, nul_reply(request))
    assert response.status_code == 200

    committed(inbound_process, InboundEmail.objects.get().pk)

    stored = InboundEmail.objects.get()
    assert (stored.status, stored.attempts) == (State.ANSWERED, 1), stored.reason
    assert "\x00" not in stored.subject and stored.subject.endswith("sign-ins")
    assert Answer.objects.get(request=request).option_key == "no"


def test_a_nul_in_a_postmark_bounce_event_is_removed_and_the_bounce_counts(
    asked, client, committed
):
    request = asked("failed-login")
    bounce = postmark_bounce(
        request,
        MessageID="883953f4\x00-6105",
        Subject="Please confirm\x00",
        Description="Unknown\x00 user.",
        Details="smtp;550 5.1.1 no such user\x00",
    )

    response = post_tracking(client, committed, POSTMARK_URL, bounce)

    assert response.status_code == 200
    event = TrackingEvent.objects.get()
    assert event.description == "Unknown user.\nsmtp;550 5.1.1 no such user"
    assert (event.message_id, event.raw["Subject"]) == ("883953f4-6105", "Please confirm")
    assert_took_the_undeliverable_branch(request)


def test_a_value_the_database_refuses_is_a_400_not_a_retry(
    asked, committed, client, monkeypatch, caplog
):
    # Whatever cleaning misses: the provider must not be told to retry forever.
    request = asked("failed-login")
    monkeypatch.setattr(InboundEmail, "save", lambda *a, **k: (_ for _ in ()).throw(DataError()))

    response = deliver(committed, client, "postmark-raw", reply_mime(request, "No"))

    assert response.status_code == 400
    assert b"DataError" in response.content
    assert "Retry-After" not in response
    monkeypatch.undo()
    assert not InboundEmail.objects.exists()
    # Logged as an error: a value the edge should have cleaned is ours to fix.
    assert [r.levelname for r in caplog.records if "DataError" in r.getMessage()] == ["ERROR"]


# --- NUL on the answer page -------------------------------------------------------------


def test_a_nul_in_the_answer_pages_comment_is_removed(asked, outbox, browser, committed):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(
        browser.post, "/respond/", {"choice": "yes", "comment": "It was me\x00, at home."}
    )

    assert response.status_code == 303
    answer = Answer.objects.get()
    assert (answer.option_key, answer.comment) == ("yes", "It was me, at home.")
    assert request.incident.timeline.filter(kind="answer.received").count() == 1


def test_a_nul_in_the_answer_pages_choice_is_refused(asked, outbox, browser, committed):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(browser.post, "/respond/", {"choice": "yes\x00"})

    assert response.status_code == 400
    assert "Please choose one of the answers." in response.content.decode()
    assert not Answer.objects.exists()
    assert not request.incident.timeline.filter(kind="answer.received").exists()


# --- deeply nested MIME -----------------------------------------------------------------


def nested(depth: int, request=None, filler: bytes = b"") -> bytes:
    """A reply (to `request`) whose answer sits `depth` multiparts deep (about 67 bytes a
    level), with `filler` lines after it."""
    to = reply_address(request) if request else "soc@localhost"
    head = (
        f"From: Bob Builder <{BOB}>\r\nTo: {to}\r\nSubject: Re: deep\r\n"
        "Message-ID: <deep@corp.example.com>\r\nMIME-Version: 1.0\r\n"
    ).encode()
    levels = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closes = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return head + levels + b"Content-Type: text/plain\r\n\r\nYes\r\n" + filler + closes


def post_raw(client, provider: str, raw: bytes, request) -> object:
    """Post `raw` as each provider that hands over raw MIME does, without parsing it here
    (the test helpers' own parsing would fail on it first)."""
    recipient = reply_address(request)
    if provider == "sendgrid":
        envelope = json.dumps({"to": [recipient], "from": BOB})
        data = {"email": raw.decode(), "envelope": envelope, "SPF": "pass"}
        return client.post(reverse("anymail:sendgrid_inbound_webhook"), data=data, **AUTH)
    if provider == "mailgun-mime":
        data = {"body-mime": raw.decode(), "recipient": recipient, **mailgun_signature("t")}
        return client.post(reverse("anymail:mailgun_inbound_webhook"), data=data, **AUTH)
    if provider == "postmark-raw":
        payload = {"RawEmail": raw.decode(), "MessageID": "event-1", "OriginalRecipient": recipient}
        return post_json(client, "postmark", json.dumps(payload), AUTH)
    receipt = {
        "notificationType": "Received",
        "mail": {"messageId": "ses-1", "source": BOB, "destination": [recipient]},
        "receipt": {"recipients": [recipient], "action": {"type": "SNS", "encoding": "BASE64"}},
        "content": base64.b64encode(raw).decode("ascii"),
    }
    notification = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(receipt)}
    return post_sns(client, notification, AUTH)


RAW_MIME_PROVIDERS = ["sendgrid", "amazon-ses", "postmark-raw", "mailgun-mime"]
TOO_DEEP = 1_200  # levels: about 80 KB, deeper than the email package's recursion allows


@pytest.mark.parametrize("provider", RAW_MIME_PROVIDERS)
def test_a_message_nested_too_deep_to_read_in_the_request_is_a_400(
    asked, committed, client, provider, caplog
):
    request = asked("failed-login")
    raw = nested(TOO_DEEP, request)
    assert 75_000 < len(raw) < 85_000

    response = committed(post_raw, client, provider, raw, request)

    assert response.status_code == 400
    assert b"nested too deeply" in response.content
    assert not InboundEmail.objects.exists()
    assert not Answer.objects.exists()
    # MimeTooDeep from our check before anymail parses; RecursionError from anymail's
    # parser on Amazon SES's posts, which only anymail reads.
    assert re.search(r"malformed payload, (MimeTooDeep|RecursionError)", caplog.text)
    assert BOB not in caplog.text


@pytest.mark.parametrize("provider", [p for p in RAW_MIME_PROVIDERS if p != "amazon-ses"])
def test_a_message_nested_too_deep_read_by_the_worker_is_kept_and_failed(
    asked, committed, client, provider
):
    request = asked("failed-login")
    with override_settings(INBOUND_DEFER_BYTES=0):
        response = committed(post_raw, client, provider, nested(TOO_DEEP, request), request)
    assert response.status_code == 200

    committed(inbound_process, InboundEmail.objects.get().pk)

    stored = InboundEmail.objects.get()
    assert (stored.status, stored.attempts) == (State.FAILED, 1)
    assert stored.reason == (
        "The provider's post could not be read (MimeTooDeep: the MIME parts are nested "
        "too deeply to read); it is kept as it came."
    )
    assert stored.post and not stored.raw
    assert not Answer.objects.exists()


@pytest.mark.parametrize("provider", [p for p in RAW_MIME_PROVIDERS if p != "amazon-ses"])
def test_a_message_nested_deeper_than_our_limit_is_refused_before_anymail_parses_it(
    asked, committed, client, provider
):
    # Deep enough for anymail's parser to spend minutes (every multipart it is in checks
    # every line), not so deep that it fails at once.
    request = asked("failed-login")
    raw = nested(400, request, filler=b"a\r\n" * 150_000)
    started = time.monotonic()

    response = committed(post_raw, client, provider, raw, request)

    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert b"nested too deeply" in response.content
    assert not InboundEmail.objects.exists()


def test_an_amazon_ses_message_nested_deeper_than_our_limit_is_read_from_its_headers(
    asked, committed, client
):
    # Amazon SES's posts are anymail's alone (SNS limits them to 150 KB): anymail parses
    # what it can, our parser reads the headers only.
    request = asked("failed-login")

    response = committed(post_raw, client, "amazon-ses", nested(100, request), request)

    assert response.status_code == 200
    stored = InboundEmail.objects.get()
    assert (stored.status, stored.correlation) == (State.ANSWERED, "reply address")
    assert stored.reason.startswith("Read as unrecognised")
    assert Answer.objects.get(request=request).option_key == "unrecognised"
    assert "Contact Bob Builder directly" in request.incident.tasks.values_list("title", flat=True)


@pytest.mark.parametrize("provider", [p for p in RAW_MIME_PROVIDERS if p != "amazon-ses"])
def test_a_message_nested_up_to_our_limit_is_read(asked, committed, client, provider):
    request = asked("failed-login")

    response = committed(post_raw, client, provider, nested(MAX_DEPTH, request), request)

    assert response.status_code == 200
    assert InboundEmail.objects.get().status == State.ANSWERED
    assert Answer.objects.get(request=request).option_key == "yes"


def test_our_parser_refuses_deep_nesting_in_bounded_time():
    # Every multipart the parser is in checks every later line against its boundary.
    raw = nested(900, filler=b"a\r\n" * 200_000)

    started = time.monotonic()
    parsed = parse_message(raw)

    assert time.monotonic() - started < 5
    assert "MIME nesting too deep to parse: headers only" in parsed.problems
    assert parsed.subject.endswith("deep") and parsed.from_address == BOB


def test_our_parser_reads_nesting_up_to_its_limit():
    parsed = parse_message(nested(MAX_DEPTH))

    assert parsed.text == "Yes"
    assert not any("nest" in problem for problem in parsed.problems)


def test_walking_parts_stops_at_the_depth_and_count_limits():
    deep = message_from_bytes(nested(MAX_PARSE_DEPTH), policy=policy.default)
    wide = EmailMessage()
    wide.set_content("Yes")
    for number in range(MAX_PARTS + 100):
        wide.add_attachment(b"x", maintype="application", subtype="octet-stream",
                            filename=f"{number}.bin")  # fmt: skip

    assert len(list(walk_parts(deep))) == MAX_DEPTH + 1
    assert len(list(walk_parts(wide))) == MAX_PARTS
