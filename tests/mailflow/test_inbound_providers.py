"""Replies through each provider's real anymail inbound webhook, in the provider's payload
shape and with its authentication, written the way Gmail, Outlook and Apple Mail write.

bench.replies builds the raw MIME a mail client sends (its reply above a quote of our whole
question, every option included); tests.builders.inbound wraps it as each provider posts it."""

import base64
import hashlib
import json
from collections.abc import Callable
from email import policy
from io import BytesIO
from unittest.mock import Mock

import pytest
from django.db import OperationalError
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser
from django.test import RequestFactory, override_settings
from django.urls import reverse

from bench.payloads import png, postmark_payload
from bench.replies import STYLES, reply_mime
from incidents.models import Evidence, ResponseTask
from mailflow.emails import reply_address
from mailflow.inbound.post_body import parse_multipart
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from mailflow.parsing import parse_message
from tests.builders.inbound import (
    AUTH,
    BOB,
    HOSTILE_FILENAME,
    HOSTILE_NAME,
    HOSTILE_SUBJECT,
    MALFORMED_FORMS,
    MALFORMED_JSON,
    PROVIDERS,
    deliver,
    hostile_mime,
    mailgun_signature,
    malformed_form,
    parse_raw,
    post_json,
    post_sns,
    postmark_raw,
    sendgrid,
    ses_notification,
    stored_files,
    tasks_of,
)

WRONG_AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"user:guess").decode()}

pytestmark = [
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
    pytest.mark.usefixtures("webhook_secrets"),
]


def notes_of(incident) -> list[str]:
    return list(incident.timeline.filter(kind="note.added").values_list("body", flat=True))


# --- Scenario 1: failed sign-ins --------------------------------------------------------

FAILED_LOGIN_OUTCOMES = {
    "yes": (["confirmed the failed sign-ins were made by Bob Builder"], []),
    "no": (
        ["said the failed sign-ins were not made by Bob Builder"],
        ["Reset the credentials of Bob Builder"],
    ),
    "unrecognised": ([], ["Contact Bob Builder directly"]),
}
ANSWERS = {"yes": "Yes", "no": "No", "unrecognised": "Can you call me about this please?"}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("outcome", FAILED_LOGIN_OUTCOMES)
def test_failed_sign_ins_answered_by_email(asked, committed, client, provider, style, outcome):
    request = asked("failed-login")
    incident = request.incident

    response = deliver(
        committed, client, provider, reply_mime(request, ANSWERS[outcome], style=style)
    )

    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert (inbound.status, inbound.classification, inbound.correlation) == (
        "answered",
        "reply",
        "reply address",
    ), inbound.reason
    assert inbound.reply_text == ANSWERS[outcome]
    answer = Answer.objects.get(request=request)
    assert (answer.option_key, answer.channel, answer.counted) == (outcome, "email_reply", True)
    notes, tasks = FAILED_LOGIN_OUTCOMES[outcome]
    assert [note.split(" (")[1].split(") ", 1)[1] for note in notes_of(incident)] == notes
    assert all(n.startswith("Bob Builder (the affected person) ") for n in notes_of(incident))
    assert [title for title, _ in tasks_of(incident)] == tasks


# --- Scenario 2: policy violation, with a screenshot ------------------------------------


POLICY_VIOLATION_TASKS = {
    "yes": (ResponseTask.State.COMPLETED, "Analyse the evidence provided by the user"),
    "no": (ResponseTask.State.COMPLETED, "Obtain further information"),
    "unrecognised": (ResponseTask.State.INCOMPLETE, "Contact the affected user"),
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("outcome", POLICY_VIOLATION_TASKS)
def test_policy_violation_answered_by_email_with_a_screenshot(
    asked, committed, client, provider, style, outcome
):
    request = asked("policy-violation")
    incident = request.incident
    screenshot = png()
    raw = reply_mime(
        request,
        ANSWERS[outcome],
        style=style,
        attachments=(("screenshot.png", "image/png", screenshot),),
    )

    response = deliver(committed, client, provider, raw)

    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert inbound.status == "answered", inbound.reason
    assert Answer.objects.get(request=request).option_key == outcome
    evidence = Evidence.objects.get(incident=incident)
    assert evidence.source == Evidence.Source.EMAIL_REPLY
    assert (evidence.filename, evidence.detected_content_type) == ("screenshot.png", "image/png")
    assert evidence.sha256 == hashlib.sha256(screenshot).hexdigest()
    assert evidence.provenance["message_id"] == inbound.message_id != ""
    assert evidence.provenance["inbound_email"] == inbound.pk
    assert evidence.provenance["channel"] == "email_reply"
    assert evidence.task == request.task
    confirm_state, follow_up = POLICY_VIOLATION_TASKS[outcome]
    assert tasks_of(incident) == [
        ("Confirm the download with the user", confirm_state),
        (follow_up, ResponseTask.State.OPEN),
    ]
    assert incident.timeline.filter(kind="evidence.added").count() == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_small_screenshot_is_filed_not_taken_for_a_signature_logo(
    asked, committed, client, provider
):
    request = asked("policy-violation")
    screenshot = png(side=20)  # about 1 KB, under the size of a signature logo
    raw = reply_mime(request, "Yes", attachments=(("crop.png", "image/png", screenshot),))

    deliver(committed, client, provider, raw)

    evidence = Evidence.objects.get(incident=request.incident)
    assert evidence.sha256 == hashlib.sha256(screenshot).hexdigest()


# --- the provider's verdicts ------------------------------------------------------------

RAW_HEADER_VERDICTS = {
    "postmark: Received-SPF": ("postmark-raw", "Received-SPF", "Fail (not permitted)", "SPF fail"),
    "mailgun: X-Mailgun-Spf": ("mailgun-mime", "X-Mailgun-Spf", "SoftFail", "SPF softfail"),
    "mailgun: DKIM check": ("mailgun-mime", "X-Mailgun-Dkim-Check-Result", "Fail", "DKIM fail"),
    "mailgun: spam flag": ("mailgun-mime", "X-Mailgun-Sflag", "Yes", "marked it as spam"),
    "any: Authentication-Results": (
        "sendgrid", "Authentication-Results", "mx.example; dmarc=fail header.from=x", "DMARC fail"
    ),
}  # fmt: skip


def _flagged_with(request, inbound: InboundEmail, reason: str) -> None:
    assert inbound.status == "flagged" and reason in inbound.reason, inbound.reason
    answer = Answer.objects.get(request=request)
    assert (answer.sender_mismatch, answer.counted) == (True, False)
    assert [t for t, _ in tasks_of(request.incident)] == [f"Verify reply from {BOB}"]


@pytest.mark.parametrize("case", RAW_HEADER_VERDICTS)
def test_a_failed_verdict_in_the_providers_headers_is_not_the_answer(
    asked, committed, client, case
):
    provider, header, value, reason = RAW_HEADER_VERDICTS[case]
    request = asked("failed-login")
    raw = reply_mime(request, "No").replace(
        b"\r\n\r\n", f"\r\n{header}: {value}\r\n\r\n".encode(), 1
    )

    deliver(committed, client, provider, raw)

    _flagged_with(request, InboundEmail.objects.get(), reason)


@pytest.mark.parametrize(
    "verdict, reason",
    [("spf", "SPF fail"), ("dkim", "DKIM fail"), ("dmarc", "DMARC fail"), ("virus", "VIRUS fail"),
     ("spam", "marked it as spam")],
)  # fmt: skip
def test_a_failed_amazon_ses_verdict_is_not_the_answer(asked, committed, client, verdict, reason):
    request = asked("failed-login")
    notification = ses_notification(reply_mime(request, "No"), "ses-1", **{verdict: "FAIL"})

    committed(post_sns, client, notification, AUTH)

    _flagged_with(request, InboundEmail.objects.get(), reason)


def test_a_failed_sendgrid_spf_field_is_not_the_answer(asked, committed, client):
    request = asked("failed-login")

    committed(sendgrid, client, reply_mime(request, "No"), "sg-1", AUTH, SPF="softfail")

    _flagged_with(request, InboundEmail.objects.get(), "SPF softfail")


def test_a_fail_in_a_lower_authentication_results_header_is_not_ours(asked, committed, client):
    request = asked("failed-login")
    ours = "Authentication-Results: mx.provider.example; dmarc=pass header.from=corp"
    older = "Authentication-Results: relay.elsewhere.example; dmarc=fail header.from=corp"
    raw = reply_mime(request, "No")
    raw = f"{ours}\r\n{older}\r\n".encode() + raw

    deliver(committed, client, "mailgun-mime", raw)

    assert InboundEmail.objects.get().status == "answered"


# --- the same message delivered again ---------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_message_delivered_again_is_one_message_and_one_answer(
    asked, committed, client, provider
):
    request = asked("failed-login")
    raw = reply_mime(request, "No")

    responses = [
        deliver(committed, client, provider, raw, event_id="event-1"),
        deliver(committed, client, provider, raw, event_id="event-1"),  # a retry
        deliver(committed, client, provider, raw, event_id="event-2"),  # a new event id
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1
    assert [title for title, _ in tasks_of(request.incident)] == [
        "Reset the credentials of Bob Builder"
    ]


def test_the_same_message_through_two_providers_is_one_message(asked, committed, client):
    request = asked("failed-login")
    raw = reply_mime(request, "No")

    for provider in ("postmark-raw", "amazon-ses"):
        assert deliver(committed, client, provider, raw).status_code == 200

    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1


# --- authentication ---------------------------------------------------------------------


@pytest.fixture
def nothing_stored(db) -> Callable[[], None]:
    """Checks that no row, answer or raw file was stored (the raw-message folder is
    shared by the whole test run, so it compares with what was there before)."""
    before = stored_files()

    def check() -> None:
        assert InboundEmail.objects.count() == 0
        assert Answer.objects.count() == 0
        assert stored_files() == before

    return check


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("auth", [{}, WRONG_AUTH], ids=["no auth", "wrong auth"])
def test_a_post_without_the_webhook_secret_is_refused(
    asked, committed, client, provider, auth, nothing_stored
):
    request = asked("failed-login")

    response = deliver(committed, client, provider, reply_mime(request, "No"), auth=auth)

    assert 400 <= response.status_code < 500
    nothing_stored()


def test_amazon_sns_is_challenged_for_basic_auth(asked, committed, client, nothing_stored):
    # SNS sends credentials only after a 401 with WWW-Authenticate.
    request = asked("failed-login")

    response = deliver(committed, client, "amazon-ses", reply_mime(request, "No"), auth={})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    nothing_stored()


@pytest.mark.parametrize("field", ["signature", "timestamp", "token"])
def test_a_mailgun_post_with_a_bad_signature_is_refused(
    asked, committed, client, field, nothing_stored
):
    request = asked("failed-login")
    raw = reply_mime(request, "No")
    data = {
        "recipient": reply_address(request),
        "body-mime": raw.decode(),
        **mailgun_signature("t"),
    }
    data[field] = data[field][::-1] + "0"

    response = committed(client.post, reverse("anymail:mailgun_inbound_webhook"), data=data, **AUTH)

    assert response.status_code == 400
    nothing_stored()


# --- malformed payloads -----------------------------------------------------------------


def _ses_with(**changes) -> str:
    receipt = {
        "notificationType": "Received",
        "mail": {"messageId": "m-1", "source": BOB},
        "receipt": {"recipients": ["x@reply.localhost"], "action": {"type": "SNS"}},
    }
    for path, value in changes.items():
        target = receipt
        *parents, leaf = path.split("__")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return json.dumps(receipt)


def _sns(message: str) -> dict:
    return {"Type": "Notification", "MessageId": "sns-1", "Message": message}


@pytest.mark.parametrize("case", MALFORMED_JSON)
def test_malformed_postmark_payloads_are_a_400(db, client, case, caplog, nothing_stored):
    esp, body = MALFORMED_JSON[case]

    response = post_json(client, esp, body, AUTH)

    assert response.status_code == 400
    assert b"Malformed webhook payload" in response.content
    nothing_stored()
    # The log says what failed, never what was posted.
    assert "FromFull" not in caplog.text and "QUJDRA" not in caplog.text


MALFORMED_SNS = {
    "garbage": "\x00garbage{",
    "not a notification object": "[]",
    "message not JSON": _sns("not json"),
    "BASE64 content not base64": _sns(
        _ses_with(receipt__action={"type": "SNS", "encoding": "BASE64"}, content="@@@not base64")
    ),
    "content not a string": _sns(
        _ses_with(receipt__action={"type": "SNS", "encoding": "BASE64"}, content=12)
    ),
    "receipt not an object": _sns(json.dumps({"notificationType": "Received", "receipt": []})),
    "no content": _sns(_ses_with()),
    "empty content": _sns(_ses_with(content="")),
    "BASE64 content empty": _sns(
        _ses_with(receipt__action={"type": "SNS", "encoding": "BASE64"}, content="")
    ),
}


@pytest.mark.parametrize("case", MALFORMED_SNS)
def test_malformed_amazon_ses_payloads_are_a_400(db, client, case, caplog, nothing_stored):
    notification = MALFORMED_SNS[case]
    body = notification if isinstance(notification, str) else json.dumps(notification)

    response = post_sns(client, body, AUTH, message_id="sns-1")

    assert response.status_code == 400
    nothing_stored()
    assert "garbage" not in caplog.text


@pytest.mark.parametrize("case", MALFORMED_FORMS)
def test_malformed_form_payloads_are_a_400(db, client, case, nothing_stored):
    esp, data = malformed_form(case)

    response = client.post(reverse(f"anymail:{esp}_inbound_webhook"), data=data, **AUTH)

    assert response.status_code == 400
    nothing_stored()


def test_a_broken_multipart_body_is_a_400(db, client, nothing_stored):
    response = client.post(
        reverse("anymail:sendgrid_inbound_webhook"),
        data=b"--b\r\nContent-Disposition: form-data; name=email",  # no header end
        content_type="multipart/form-data; boundary=b",
        **AUTH,
    )

    assert response.status_code == 400
    nothing_stored()


def test_a_database_failure_is_a_503_so_the_provider_retries(
    asked, committed, client, monkeypatch, caplog
):
    request = asked("failed-login")

    down = OperationalError("could not connect to server")
    monkeypatch.setattr(InboundEmail, "save", Mock(side_effect=down))
    response = deliver(committed, client, "postmark-raw", reply_mime(request, "No"))

    assert response.status_code == 503
    assert response["Retry-After"]
    monkeypatch.undo()
    assert InboundEmail.objects.count() == 0
    assert BOB not in caplog.text


def test_a_database_failure_leaves_no_file_behind(asked, committed, client, monkeypatch):
    request = asked("failed-login")
    before = stored_files()
    monkeypatch.setattr(InboundEmail, "save", Mock(side_effect=OperationalError("down")))

    deliver(committed, client, "postmark-raw", reply_mime(request, "No"))

    assert stored_files() == before


# --- hostile content --------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hostile_content_is_stored_as_it_came(asked, committed, client, provider):
    request = asked("policy-violation")

    response = deliver(committed, client, provider, hostile_mime(request))

    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert HOSTILE_SUBJECT in inbound.subject
    assert HOSTILE_NAME in inbound.from_header
    assert inbound.status in {"answered", "flagged"}, inbound.reason
    with inbound.raw.open("rb") as handle:
        stored = parse_message(handle.read())
    assert "<script>alert('html')</script>" in stored.html
    assert [a.filename for a in stored.attachments] == [HOSTILE_FILENAME]


# --- large messages ---------------------------------------------------------------------


def big_reply(request: ConfirmationRequest, megabytes: int) -> bytes:
    """A reply with a firewall log of `megabytes` MB attached: text, so it is not base64
    encoded and the message is barely larger than the attachment."""
    line = "2025-01-06T10:00:00Z DENY tcp 10.0.0.5:51234 -> 203.0.113.9:443 len=1337\n"
    log = (line * (megabytes * 1024 * 1024 // len(line) + 1))[: megabytes * 1024 * 1024]
    message = parse_raw(reply_mime(request, "Yes"))
    message.add_attachment(log, subtype="plain", filename="firewall.log", cte="7bit")
    return message.as_bytes(policy=policy.SMTP)


def test_a_25_mb_message_through_mailgun_is_stored_and_processed(asked, committed, client):
    request = asked("policy-violation")
    raw = big_reply(request, 24)
    assert 24 * 1024 * 1024 < len(raw) < 25 * 1024 * 1024

    response = deliver(committed, client, "mailgun-mime", raw)

    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert inbound.size > 24 * 1024 * 1024
    assert inbound.status == "answered", inbound.reason
    assert Evidence.objects.get(incident=request.incident).size >= 24 * 1024 * 1024


def test_a_25_mb_postmark_json_is_stored(asked, client):
    request = asked("policy-violation")
    raw = big_reply(request, 25)
    payload = json.dumps(postmark_payload(raw, "event-big", with_raw=True) | {"Attachments": []})
    assert 25 * 1024 * 1024 < len(payload) < 26 * 1024 * 1024

    response = post_json(client, "postmark", payload, AUTH)

    assert response.status_code == 200
    assert InboundEmail.objects.get().size > 25 * 1024 * 1024


def test_the_rest_of_the_site_keeps_djangos_limit(db, client):
    body = b"x" * (25 * 1024 * 1024)

    tracking = client.post(
        reverse("anymail:postmark_tracking_webhook"),
        data=body,
        content_type="application/json",
        **AUTH,
    )
    login = client.post(
        reverse("admin:login"),
        data=body,
        content_type="application/x-www-form-urlencoded",
    )

    assert tracking.status_code == 400
    assert login.status_code == 400


@override_settings(INBOUND_MAX_BYTES=1024 * 1024)
def test_a_post_over_inbound_max_bytes_is_refused_unread(asked, client, nothing_stored):
    request = asked("failed-login")
    raw = big_reply(request, 2)

    response = postmark_raw(client, raw, "event-1", AUTH)

    assert response.status_code == 413
    nothing_stored()


def test_an_unauthenticated_large_post_gets_djangos_limit(db, client, nothing_stored):
    body = json.dumps({"RawEmail": "x" * (5 * 1024 * 1024)})

    response = post_json(client, "postmark", body, WRONG_AUTH)

    assert response.status_code == 400
    nothing_stored()


# --- the middleware's form parser reads forms as Django does ----------------------------

FORMS = {
    "fields and files": {
        "text": "Yes\r\nplease",
        "utf8": "Grüße \u2013 ✓",
        "one": "1",
        "attachment-1": ("image.png", b"\x89PNG\r\n\x1a\n\x00\xff", "image/png"),
        "attachment-2": ("\\share\\mail\\forwarded.msg", b"From: a@b\r\n\r\nhi", "message/rfc822"),
        "attachment-3": ("../../etc/passwd", b"root", "text/plain"),
    },
    "dropped filenames": {
        "a": ("", b"x", "text/plain"),
        "b": ("path/..", b"x", "text/plain"),
        "c": (".", b"x", "text/plain"),
        "d": ("&quot;quoted&quot;.txt", b"x", "text/plain"),
    },
}


def _multipart(fields: dict) -> bytes:
    lines = []
    for name, value in fields.items():
        lines.append(b"--B0UND")
        if isinstance(value, tuple):
            filename, content, content_type = value
            lines.append(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'.encode()
            )
            lines.append(f"Content-Type: {content_type}".encode())
            lines += [b"", content]
        else:
            lines.append(f'Content-Disposition: form-data; name="{name}"'.encode())
            lines += [b"", value.encode()]
    lines += [b"--B0UND--", b""]
    return b"\r\n".join(lines)


@pytest.mark.parametrize("form", FORMS)
def test_the_inbound_form_parser_reads_what_django_reads(form):
    body = _multipart(FORMS[form])
    request = RequestFactory().post(
        "/anymail/sendgrid/inbound/", data=body, content_type="multipart/form-data; boundary=B0UND"
    )
    django_post, django_files = MultiPartParser(
        request.META, BytesIO(body), request.upload_handlers, "utf-8"
    ).parse()

    ours_post, ours_files = parse_multipart(request, body)

    assert isinstance(ours_post, QueryDict)
    assert dict(ours_post.lists()) == dict(django_post.lists())
    assert sorted(ours_files) == sorted(django_files)
    for key in django_files:
        theirs, ours = django_files[key], ours_files[key]
        assert (ours.name, ours.content_type, ours.read()) == (
            theirs.name,
            theirs.content_type,
            theirs.read(),
        )


# --- known problems in mailflow/inbound/ (strict: these fail loudly once fixed) ---------


@pytest.mark.parametrize("provider", ["mailgun-mime", "postmark-raw", "amazon-ses", "sendgrid"])
def test_the_raw_message_is_stored_as_the_provider_gave_it(asked, client, provider):
    request = asked("failed-login")
    # A long unfolded header, as DKIM and ARC headers often are, which as_bytes() refolds.
    dkim = (
        "DKIM-Signature: v=1; a=rsa-sha256; d=corp.example.com; s=s1; "
        + "h="
        + ":".join(["from", "to", "subject", "date", "message-id", "in-reply-to", "references"] * 3)
    )
    raw = dkim.encode() + b"\r\n" + reply_mime(request, "No")

    assert PROVIDERS[provider](client, raw, "event-1", AUTH).status_code == 200

    with InboundEmail.objects.get().raw.open("rb") as handle:
        stored = handle.read()
    assert stored == (raw.replace(b"\r\n", b"\n") if provider == "postmark-raw" else raw)


def test_postmarks_original_recipient_is_kept(asked, client):
    request = asked("failed-login")

    postmark_raw(client, reply_mime(request, "No"), "event-1", AUTH)

    assert reply_address(request) in InboundEmail.objects.get().extra_addresses
