"""Delivery tracking as the providers post it: the webhook addresses and authentication,
their payloads, and what a bounce must have done to the question."""

import base64
import hashlib
import hmac
import secrets
import time

from mailflow.models import ConfirmationRequest
from runbooks.models import RunbookRun

State = ConfirmationRequest.State

SECRET = "user:pass"
SIGNING_KEY = "key-xyz"
BOB = "bob@corp.example.com"
POSTMARK_URL = "/anymail/postmark/tracking/"
MAILGUN_URL = "/anymail/mailgun/tracking/"
SENDGRID_URL = "/anymail/sendgrid/tracking/"
SES_URL = "/anymail/amazon_ses/tracking/"


def basic_auth(credentials: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials.encode()).decode()}


def post(client, committed, url: str, payload: dict, auth: dict | None = None):
    """Post as the provider does; on-commit work (the processing task) runs as on commit."""
    headers = basic_auth() if auth is None else auth
    return committed(client.post, url, payload, content_type="application/json", **headers)


def postmark_bounce(request: ConfirmationRequest, **changes) -> dict:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"request_id": str(request.pk)},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": BOB,
        "From": "soc@localhost",
        "BouncedAt": "2025-03-04T10:15:31Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Please confirm recent sign-in attempts",
        "Content": "Return-Path: <>\r\n…",
        **changes,
    }


def mailgun_signature(token: str | None = None, key: str = SIGNING_KEY) -> dict:
    timestamp = str(int(time.time()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256)
    return {"timestamp": timestamp, "token": token, "signature": signature.hexdigest()}


def mailgun_event(request: ConfirmationRequest, event: str, signature: dict | None = None,
                  **event_data) -> dict:  # fmt: skip
    return {
        "signature": signature or mailgun_signature(),
        "event-data": {
            "event": event,
            "timestamp": 1741083330.908181,
            "id": "CPgfbmQMTCKtHW6uIWtuVe",
            "log-level": "info",
            "recipient": BOB,
            "recipient-domain": "corp.example.com",
            "envelope": {"transport": "smtp", "sender": "soc@localhost", "targets": BOB},
            "message": {
                "headers": {
                    "to": f"Bob Builder <{BOB}>",
                    "message-id": request.message_id.strip("<>"),
                    "from": "SOC <soc@localhost>",
                    "subject": request.subject,
                },
                "attachments": [],
                "size": 4321,
            },
            "tags": [],
            "campaigns": [],
            "user-variables": {"request_id": str(request.pk)},
            **event_data,
        },
    }


def mailgun_delivered(request: ConfirmationRequest, **kwargs) -> dict:
    status = {"tls": True, "code": 250, "description": "", "message": "OK", "attempt-no": 1}
    return mailgun_event(request, "delivered", **{"delivery-status": status}, **kwargs)


def kinds(request: ConfirmationRequest) -> list[str]:
    return list(request.incident.timeline.values_list("kind", flat=True))


def titles(request: ConfirmationRequest) -> list[str]:
    return list(request.incident.tasks.values_list("title", flat=True))


def assert_took_the_undeliverable_branch(request: ConfirmationRequest) -> None:
    request.refresh_from_db()
    assert request.state == State.UNDELIVERABLE
    assert titles(request) == ["Contact Bob Builder directly"]
    assert RunbookRun.objects.get(pk=request.run_id).state == RunbookRun.State.COMPLETED
    assert kinds(request).count("request.undeliverable") == 1
