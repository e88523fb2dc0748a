"""What each email provider's inbound payload tells us besides the message anymail parsed:
the raw MIME as it came, recipient fields that may hold the reply address, and the
provider's own spam and SPF/DKIM/DMARC verdicts.

Payloads are told apart by shape rather than by the provider's name: Mailgun's and
SendGrid's esp_event is the Django request (form fields), Postmark's is its JSON, Amazon
SES's is the receipt notification (with "receipt" and, for the SNS action, "content")."""

import base64
import json
import re
from email.message import Message
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.request import RawPostDataException

from mailflow.parsing.message import refuse_deep_nesting, walk_parts


def raw_mime(event: Any) -> bytes:
    """The message exactly as the provider gave it where it gives raw MIME, else a
    faithful serialisation of the message anymail built from the parsed fields.

    Told apart by the payload's shape rather than the provider's name: Mailgun's and
    SendGrid's esp_event is the Django request (raw MIME in "body-mime" / "email"),
    Postmark's is its JSON (raw MIME in "RawEmail" when enabled), Amazon SES's is the
    receipt notification ("content", base64 with the BASE64 encoding)."""
    esp_event = getattr(event, "esp_event", None)
    raw: str | bytes | None = None
    post = getattr(esp_event, "POST", None)
    if post is not None:
        raw = post.get("body-mime") or post.get("email")
    elif isinstance(esp_event, dict):
        raw = esp_event.get("RawEmail")
        content = esp_event.get("content")
        if not raw and isinstance(content, str):
            action = (esp_event.get("receipt") or {}).get("action") or {}
            raw = base64.b64decode(content) if action.get("encoding") == "BASE64" else content
    if raw:
        return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    return _serialise(event.message)


def refuse_deep_post(request: HttpRequest) -> None:
    """Raise MimeTooDeep (a RecursionError: bad input) for an inbound post whose raw MIME
    nests more multiparts than our parser enters; called before anymail parses it."""
    try:
        body = request.body
    except RawPostDataException:  # a stream already read: anymail's parse stays guarded
        return
    refuse_deep_nesting(body, lambda: _posted_mime(request))


def _posted_mime(request: HttpRequest) -> bytes | None:
    """The raw MIME in a post: SendGrid's "email", Mailgun's "body-mime" (form fields),
    Postmark's "RawEmail" (JSON)."""
    if request.content_type == "application/json":
        payload = json.loads(request.body)
        raw = payload.get("RawEmail") if isinstance(payload, dict) else None
    else:
        raw = request.POST.get("email") or request.POST.get("body-mime")
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else None


def _serialise(message: Message) -> bytes:
    """as_bytes() of a message anymail constructed from parsed fields, made faithful: the
    attachments it built hold raw bytes without a transfer encoding, which the generator
    would write as they are (CR and CR LF turned into LF, so a PNG arrives corrupted).
    Each such part is base64-encoded first."""
    for part in walk_parts(message):
        if part.is_multipart() or not isinstance(part.get_payload(), str):
            continue
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding in ("", "7bit", "8bit", "binary"):
            content = part.get_payload(decode=True)
            del part["Content-Transfer-Encoding"]
            part.set_payload(base64.encodebytes(content).decode("ascii"))
            part["Content-Transfer-Encoding"] = "base64"
    return message.as_bytes()


def recipient_fields(event: Any) -> list[str]:
    """Provider fields that may carry the reply address: Postmark's OriginalRecipient and
    MailboxHash (the part after "+", which it also strips from ToFull/CcFull)."""
    esp_event = getattr(event, "esp_event", None)
    if not isinstance(esp_event, dict):
        return []
    found = [str(esp_event.get("OriginalRecipient") or "")]
    hashes = [esp_event.get("MailboxHash")]
    for field in ("ToFull", "CcFull", "BccFull"):
        entries = esp_event.get(field)
        if isinstance(entries, list):
            hashes += [e.get("MailboxHash") for e in entries if isinstance(e, dict)]
    found += [f"reply+{h}@{settings.REPLY_DOMAIN}" for h in hashes if h and isinstance(h, str)]
    return list(dict.fromkeys(a[:254] for a in found if a))


# Verdict values that mean "failed", across providers (SES: FAIL; SendGrid's SPF field:
# fail/softfail; header values: fail, softfail, permerror).
FAILED = {"fail", "softfail", "permerror"}
_SENDGRID_DKIM = re.compile(r":\s*(\w+)\s*\}?\s*$")


def verdicts(event: Any) -> dict[str, Any]:
    """The provider's verdicts on the message, lower-cased, where its payload gives them
    outside the message (headers are read when processing): spam always (anymail's
    normalised spam_detected and spam_score), SPF/DKIM/DMARC/virus for SES and SendGrid."""
    message = event.message
    found: dict[str, Any] = {
        "spam_detected": getattr(message, "spam_detected", None),
        "spam_score": getattr(message, "spam_score", None),
    }
    esp_event = getattr(event, "esp_event", None)
    post = getattr(esp_event, "POST", None)
    if post is not None:
        if post.get("SPF"):
            found["spf"] = str(post["SPF"]).strip().lower()[:40]
        dkim = _SENDGRID_DKIM.search(str(post.get("dkim") or ""))  # "{@example.com : pass}"
        if dkim:
            found["dkim"] = dkim.group(1).lower()
    elif isinstance(esp_event, dict) and isinstance(esp_event.get("receipt"), dict):
        receipt = esp_event["receipt"]
        for name in ("spf", "dkim", "dmarc", "virus"):
            status = (receipt.get(f"{name}Verdict") or {}).get("status")
            if isinstance(status, str) and status:
                found[name] = status.lower()[:40]
    return found
