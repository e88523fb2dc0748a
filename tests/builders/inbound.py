"""Inbound mail as the providers post it, for the tests of the inbound path: raw messages,
each provider's webhook payload and authentication, and hostile or malformed posts.

Replies in a mail client's style come from bench.replies and the Postmark payload from
bench.payloads, which the benchmarks use too."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bench.payloads import BOB, bodies, png, postmark_payload, unfold
from bench.replies import reply_mime
from mailflow.emails import reply_address
from mailflow.models import ConfirmationRequest

SECRET = "user:pass"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}
SIGNING_KEY = "key-mailgun-webhook-signing"


# --- what providers post ----------------------------------------------------------------


def parse_raw(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def _recipient(message: EmailMessage) -> str:
    return message["To"].addresses[0].addr_spec


def mailgun_signature(token: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hmac.new(
        SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return {"token": token, "timestamp": timestamp, "signature": signature}


def mailgun_mime(client, raw: bytes, event_id: str, auth: dict) -> object:
    """Mailgun's forward() to a URL ending in "mime": the raw message as "body-mime"."""
    message = parse_raw(raw)
    data = {
        "recipient": _recipient(message),
        "sender": BOB,
        "from": unfold(message["From"]),
        "subject": unfold(message["Subject"]),
        "body-mime": raw.decode("utf-8"),
        **mailgun_signature(event_id),
    }
    return client.post(reverse("anymail:mailgun_inbound_webhook"), data=data, **auth)


def mailgun_parsed(client, raw: bytes, event_id: str, auth: dict) -> object:
    """Mailgun's fully parsed forward(): headers as JSON, bodies and files as fields."""
    message = parse_raw(raw)
    text, markup, attachments = bodies(message)
    data = {
        "recipient": _recipient(message),
        "sender": BOB,
        "from": unfold(message["From"]),
        "subject": unfold(message["Subject"]),
        "message-headers": json.dumps([[k, unfold(v)] for k, v in message.raw_items()]),
        "body-plain": text,
        "body-html": markup,
        "stripped-text": text.split("\n\n")[0],
        "attachment-count": str(len(attachments)),
        "X-Mailgun-Sflag": "No",
        **mailgun_signature(event_id),
    }
    for number, part in enumerate(attachments, start=1):
        data[f"attachment-{number}"] = _upload(part)
    return client.post(reverse("anymail:mailgun_inbound_webhook"), data=data, **auth)


def _upload(part: EmailMessage) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        part.get_filename() or "attachment",
        part.get_payload(decode=True),
        part.get_content_type(),
    )


def postmark_raw(client, raw: bytes, event_id: str, auth: dict) -> object:
    """Postmark with "Include raw email content in JSON payload"."""
    payload = postmark_payload(raw, event_id, with_raw=True)
    return post_json(client, "postmark", json.dumps(payload), auth)


def postmark_parsed(client, raw: bytes, event_id: str, auth: dict) -> object:
    payload = postmark_payload(raw, event_id, with_raw=False)
    return post_json(client, "postmark", json.dumps(payload), auth)


def post_json(client, esp: str, body: str | bytes, auth: dict, **extra) -> object:
    return client.post(
        reverse(f"anymail:{esp}_inbound_webhook"),
        data=body,
        content_type="application/json",
        **auth,
        **extra,
    )


def ses_notification(raw: bytes, event_id: str, **verdicts: str) -> dict:
    """An SNS Notification carrying an SES receipt notification with the whole message
    (receipt rule action SNS, encoding BASE64)."""
    message = parse_raw(raw)
    recipient = _recipient(message)
    receipt = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2025-01-06T10:05:00.000Z",
            "source": BOB,
            "messageId": event_id,
            "destination": [recipient],
            "headersTruncated": False,
            "headers": [{"name": k, "value": unfold(v)} for k, v in message.raw_items()],
            "commonHeaders": {
                "from": [unfold(message["From"])],
                "to": [recipient],
                "messageId": message["Message-ID"],
                "subject": unfold(message["Subject"]),
            },
        },
        "receipt": {
            "timestamp": "2025-01-06T10:05:00.000Z",
            "processingTimeMillis": 310,
            "recipients": [recipient],
            **{
                f"{name}Verdict": {"status": verdicts.get(name, "PASS")}
                for name in ("spam", "virus", "spf", "dkim", "dmarc")
            },
            "action": {
                "type": "SNS",
                "topicArn": "arn:aws:sns:eu-west-1:111111111111:soc-inbound",
                "encoding": "BASE64",
            },
        },
        "content": base64.b64encode(raw).decode("ascii"),
    }
    return {
        "Type": "Notification",
        "MessageId": str(uuid.uuid5(uuid.NAMESPACE_URL, event_id)),
        "TopicArn": "arn:aws:sns:eu-west-1:111111111111:soc-inbound",
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": json.dumps(receipt),
        "Timestamp": "2025-01-06T10:05:00.500Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE==",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def post_sns(client, notification: dict | str, auth: dict, message_id: str | None = None):
    body = notification if isinstance(notification, str) else json.dumps(notification)
    kind = "Notification" if isinstance(notification, str) else notification["Type"]
    message_id = message_id or (notification["MessageId"] if isinstance(notification, dict) else "")
    return client.post(
        reverse("anymail:amazon_ses_inbound_webhook"),
        data=body,
        content_type="text/plain; charset=UTF-8",  # what SNS sends
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=kind,
        HTTP_X_AMZ_SNS_MESSAGE_ID=message_id,
        HTTP_X_AMZ_SNS_TOPIC_ARN="arn:aws:sns:eu-west-1:111111111111:soc-inbound",
        **auth,
    )


def amazon_ses(client, raw: bytes, event_id: str, auth: dict) -> object:
    return post_sns(client, ses_notification(raw, event_id), auth)


def sendgrid(client, raw: bytes, event_id: str, auth: dict, **fields: str) -> object:
    """SendGrid Inbound Parse with "POST the raw, full MIME message"."""
    message = parse_raw(raw)
    data = {
        "email": raw.decode("utf-8"),
        "from": unfold(message["From"]),
        "to": unfold(message["To"]),
        "subject": unfold(message["Subject"]),
        "envelope": json.dumps({"to": [_recipient(message)], "from": BOB}),
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"}),
        "dkim": "{@corp.example.com : pass}",
        "SPF": "pass",
        "sender_ip": "192.0.2.10",
        "spam_score": "0.1",
        **fields,
    }
    return client.post(reverse("anymail:sendgrid_inbound_webhook"), data=data, **auth)


PROVIDERS: dict[str, Callable] = {
    "mailgun-mime": mailgun_mime,
    "mailgun-parsed": mailgun_parsed,
    "postmark-raw": postmark_raw,
    "postmark-parsed": postmark_parsed,
    "amazon-ses": amazon_ses,
    "sendgrid": sendgrid,
}


def deliver(committed, client, provider: str, raw: bytes, *, event_id: str = "", auth=None):
    """Post as the provider would, running what the receiver defers to commit (processing,
    the runbook)."""
    event_id = event_id or uuid.uuid4().hex
    return committed(PROVIDERS[provider], client, raw, event_id, AUTH if auth is None else auth)


def tasks_of(incident) -> list[tuple[str, str]]:
    return list(incident.tasks.values_list("title", "state"))


def stored_files() -> set[Path]:
    return {path for path in Path(settings.INBOUND_ROOT).rglob("*") if path.is_file()}


# --- malformed and hostile posts --------------------------------------------------------

MALFORMED_JSON = {
    "postmark: an empty object": ("postmark", b"{}"),
    "postmark: no headers, no body": ("postmark", b'{"Headers": [], "TextBody": ""}'),
    "postmark: not JSON": ("postmark", b"{'FromFull': "),
    "postmark: invalid UTF-8": ("postmark", b'{"Subject": "\xff\xfe"}'),
    "postmark: a list": ("postmark", b"[1, 2, 3]"),
    "postmark: a header without a name": ("postmark", b'{"Headers": [{"Value": "x"}]}'),
    "postmark: headers not a list": ("postmark", b'{"Headers": 7}'),
    "postmark: attachment not base64": (
        "postmark",
        b'{"Attachments": [{"Name": "a", "ContentType": "text/plain", "Content": "QUJDRA"}]}',
    ),
    "postmark: attachment without content": (
        "postmark",
        b'{"Attachments": [{"Name": "a", "ContentType": "text/plain"}]}',
    ),
}

MALFORMED_FORMS = {
    "mailgun: no message headers": ("mailgun", {"body-plain": "Yes"}),
    "mailgun: message headers not JSON": ("mailgun", {"message-headers": "[["}),
    "mailgun: timestamp not a number": ("mailgun", {"body-mime": "Subject: x\r\n\r\nYes"}),
    "sendgrid: neither email nor headers": ("sendgrid", {"from": BOB, "text": "Yes"}),
}


def malformed_form(case: str) -> tuple[str, dict[str, str]]:
    """The provider and the form of a MALFORMED_FORMS case, Mailgun's correctly signed."""
    esp, data = MALFORMED_FORMS[case]
    if esp == "mailgun":
        signed = mailgun_signature("token-1")
        if "timestamp not" in case:
            signed = {"token": "t", "timestamp": "soon"}
            signed["signature"] = hmac.new(
                SIGNING_KEY.encode(), b"soont", hashlib.sha256
            ).hexdigest()
        data = {**data, **signed}
    return esp, data


HOSTILE_SUBJECT = "<script>alert('subject')</script> Re: your question"
HOSTILE_NAME = "<script>alert('name')</script> Bob"
HOSTILE_FILENAME = '"><img src=x onerror=alert(1)>.png'
HOSTILE_TEXT = "Yes\n<script>alert('body')</script>\n"
HOSTILE_HTML = (
    "<p>Yes</p><script>alert('html')</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)">click</a><svg onload=alert(4)><circle r=1></svg>'
    '<meta http-equiv="refresh" content="0;url=javascript:alert(5)">'
    '<iframe src="https://evil.example/"></iframe><img src="https://tracker.example/p.gif">'
    "<style>body{background:url(https://tracker.example/bg.gif)}</style>"
    "<div style=\"background:url('https://tracker.example/s.gif')\">styled</div>"
)


def hostile_mime(request: ConfirmationRequest) -> bytes:
    return reply_mime(
        request,
        "Yes",
        sender=f'"{HOSTILE_NAME}" <{BOB}>',
        subject=f"{HOSTILE_SUBJECT} [{request.incident.number}]",
        text=HOSTILE_TEXT,
        markup=HOSTILE_HTML,
        attachments=((HOSTILE_FILENAME, "image/png", png()),),
    )


# --- raw messages written by hand -------------------------------------------------------

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def message(*, to: str, body: str = "No", sender: str = "bob@corp.example.com",
            subject: str = "Re: question", headers: str = "", mid: str = "m1") -> str:  # fmt: skip
    return (
        f"From: Bob Builder <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}@corp.example.com>\r\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )


def delivery_report(request, *, mid: str = "bounce1", to: str = "soc@example.com") -> str:
    """A Postfix-style report that our question could not be delivered, quoting the
    question's headers (its Message-ID among them)."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example.com>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{mid}@mx.corp.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.example.com\r\n\r\n"
        "Final-Recipient: rfc822; bob@corp.example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\nSubject: {request.subject}\r\n"
        "--b--\r\n"
    )


def titles(request) -> list[str]:
    return list(request.incident.tasks.values_list("title", flat=True))


def raw_reply(request, body: str, sender: str = "bob@corp.example.com") -> str:
    return (
        f"From: Bob Builder <{sender}>\r\n"
        f"To: {reply_address(request)}\r\n"
        f"Subject: Re: [{request.incident.number}] Did you download this file?\r\n"
        f"Message-ID: <reply-{request.pk}@corp.example.com>\r\n"
        f"In-Reply-To: {request.message_id}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n\r\nOn Mon, SOC <soc@example.com> wrote:\r\n"
        "> Yes, I downloaded this file\r\n> No, I did not\r\n"
    )


def spoofed(request, *, body: str = "Yes", mid: str = "spoof1", to: str = "") -> str:
    """From the person asked (forged), to some address at the reply domain, tagged."""
    return message(
        to=to or "anything@reply.localhost",
        subject=f"Re: [{request.incident.number}] Please confirm",
        body=body,
        mid=mid,
    )
