"""Realistic inbound webhook payloads, built without a database.

A reply the way Gmail writes it (the answer above a quote of our whole question, text and
HTML), optionally with attachments, wrapped as Postmark (JSON, with or without RawEmail)
or Mailgun (form post with body-mime) post it. Each payload is a template holding MARKER
wherever the message must be unique (Message-ID, provider event id): `Template.render(n)`
swaps in a number of the same length, so the Content-Length stays fixed and rendering a
25 MB payload costs one join, not a rebuild.
"""

import base64
import hashlib
import hmac
import html
import json
import random
import re
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime

MARKER = b"BENCHID0000000000000"  # 20 ASCII characters, never escaped by JSON or MIME
REPLY_TO = "reply+Zm9vYmFyYmF6cXV4MTIzNDU2Nzg@reply.localhost"
BOB = "bob@corp.example.com"
SENDER = f"Bob Builder <{BOB}>"
SUBJECT = "Re: [SIR0001042] Did you try to sign in to your account from a new device?"


@dataclass(frozen=True)
class Template:
    """A payload whose MARKER occurrences are replaced per message."""

    path: str
    content_type: str
    pieces: tuple[bytes, ...]
    message_size: int  # the raw MIME message inside, in bytes

    @property
    def size(self) -> int:
        return sum(map(len, self.pieces)) + len(MARKER) * (len(self.pieces) - 1)

    def render(self, number: int) -> bytes:
        return unique_id(number).encode("ascii").join(self.pieces)


def unique_id(number: int) -> str:
    """What replaces MARKER in message `number`: as long as MARKER, digits only."""
    text = f"{number:0{len(MARKER)}d}"
    if len(text) != len(MARKER):
        raise ValueError(f"message number {number} is too large")
    return text


def message_id(number: int) -> str:
    """Message `number`'s Message-ID as the app stores it (normalised: lower case, <>)."""
    return f"<ca+{unique_id(number)}@mail.gmail.com>"


def png(side: int = 80) -> bytes:
    """A real PNG of noise: a screenshot's size without its compressibility, so it stays
    above the size under which an inline image counts as a signature logo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    noise = random.Random(side)
    rows = b"".join(b"\x00" + noise.randbytes(side * 3) for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


_QUESTION = """Hello Bob,

Our security team noticed something on your account and needs your help to
decide whether it is a problem.

Incident SIR0001042: 14 failed sign-ins to your account from a new device
(Windows, Firefox) in Frankfurt, Germany, between 09:12 and 09:31 UTC today.

Was that you?

  Yes, that was me:      https://soc.example.com/respond/AbCdEfGhIjKlMnOp/?choice=yes
  No, that was not me:   https://soc.example.com/respond/AbCdEfGhIjKlMnOp/?choice=no
  This email looks suspicious to me:
                         https://soc.example.com/respond/AbCdEfGhIjKlMnOp/?choice=suspicious

You can also reply to this email with one word: yes or no. If you have a
screenshot of the message or page you saw, attach it to your reply.

Thank you,
The security operations team
"""


def _quoted_html(target: int) -> str:
    """Our question's HTML as Gmail quotes it: inline styles everywhere, so it is large."""
    style = (
        "font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;line-height:20px;"
        "color:#1f2328;margin:0 0 12px 0;padding:0"
    )
    blocks = [f'<p style="{style}">{html.escape(p)}</p>' for p in _QUESTION.split("\n\n")]
    legal = (
        f'<p style="{style};font-size:11px;color:#6e7781">This message was sent by the '
        "security operations team about an open incident. Do not forward it: its links "
        "are personal and expire when the incident closes.</p>"
    )
    markup = "".join(blocks)
    while len(markup) < target:
        markup += legal
    return markup


def reply_mime(
    *, size: int = 20 * 1024, attachments: tuple[tuple[str, str, bytes], ...] = ()
) -> bytes:
    """A Gmail reply "No" to our question, about `size` bytes without attachments (the
    quote pads it), with MARKER in its Message-ID."""
    header = "On Mon, 6 Jan 2025 at 10:00, SOC <soc@example.com> wrote:"
    quoted = "\n".join(f"> {line}".rstrip() for line in _QUESTION.splitlines())
    text = f"No\n\n{header}\n\n{quoted}\n"
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = SENDER
    message["To"] = REPLY_TO
    message["Subject"] = SUBJECT
    message["Date"] = format_datetime(datetime(2025, 1, 6, 10, 5, tzinfo=UTC))
    message["Message-ID"] = f"<CA+{MARKER.decode()}@mail.gmail.com>"
    message["In-Reply-To"] = "<question.SIR0001042.1@soc.example.com>"
    message["References"] = "<question.SIR0001042.1@soc.example.com>"
    message.set_content(text)
    # Text, HTML and headers: the HTML quote fills what the target leaves after the text.
    markup_target = max(0, size - 2 * len(text) - 1500)
    markup = (
        '<div dir="ltr">No</div><br><div class="gmail_quote"><div dir="ltr" '
        f'class="gmail_attr">{html.escape(header)}<br></div><blockquote class="gmail_quote" '
        'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
        f'padding-left:1ex">{_quoted_html(markup_target)}</blockquote></div>'
    )
    message.add_alternative(markup, subtype="html")
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def reply_with_attachment(size: int) -> bytes:
    """A reply of about `size` bytes whose bulk is a screenshot (base64 makes 57 bytes of
    content into 78 bytes of message)."""
    base = len(reply_mime())
    content = max(1024, (size - base - 400) * 57 // 78)
    side = int((content / 3) ** 0.5)
    return reply_mime(attachments=(("screenshot.png", "image/png", png(side)),))


def _parse(raw: bytes) -> EmailMessage:
    return message_from_bytes(raw, policy=policy.default)


def unfold(value: str) -> str:
    """A header's value on one line, as providers report it."""
    return re.sub(r"\r?\n[ \t]+", " ", str(value))


def bodies(message: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    """The message's text and HTML bodies (empty when absent) and its attachments."""
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    return (
        text.get_content() if text else "",
        markup.get_content() if markup else "",
        list(message.iter_attachments()),
    )


def postmark_payload(raw: bytes, event_id: str, *, with_raw: bool) -> dict:
    """Postmark's inbound JSON for the raw message, with Postmark's own event id. With
    "include raw email content" the message comes twice: RawEmail (with bare LF line
    ends) and the parsed fields, attachments base64-encoded."""
    message = _parse(raw)
    text, markup, attachments = bodies(message)
    recipient = message["To"].addresses[0].addr_spec
    sender = message["From"].addresses[0]
    mailbox_hash = recipient.split("@")[0].partition("+")[2]
    skipped = {"from", "to", "cc", "subject", "date", "reply-to", "content-type"}
    payload = {
        "FromName": sender.display_name,
        "MessageStream": "inbound",
        "From": sender.addr_spec,
        "FromFull": {"Email": sender.addr_spec, "Name": sender.display_name, "MailboxHash": ""},
        "To": recipient,
        "ToFull": [{"Email": recipient, "Name": "", "MailboxHash": mailbox_hash}],
        "CcFull": [],
        "BccFull": [],
        "OriginalRecipient": recipient,
        "Subject": unfold(message["Subject"]),
        "MessageID": event_id,
        "ReplyTo": "",
        "MailboxHash": mailbox_hash,
        "Date": str(message["Date"]),
        "TextBody": text,
        "HtmlBody": markup,
        "StrippedTextReply": text.split("\n\n")[0],
        "Tag": "",
        "Headers": [{"Name": "Return-Path", "Value": f"<{BOB}>"}]
        + [
            {"Name": name, "Value": unfold(value)}
            for name, value in message.raw_items()
            if name.lower() not in skipped
        ]
        + [{"Name": "X-Spam-Status", "Value": "No"}, {"Name": "X-Spam-Score", "Value": "-0.1"}],
        "Attachments": [
            {
                "Name": part.get_filename(),
                "Content": base64.b64encode(part.get_payload(decode=True)).decode("ascii"),
                "ContentType": part.get_content_type(),
                "ContentLength": len(part.get_payload(decode=True)),
                "ContentID": "",
            }
            for part in attachments
        ],
    }
    if with_raw:
        payload["RawEmail"] = raw.decode("utf-8").replace("\r\n", "\n")
    return payload


def postmark(raw: bytes, *, with_raw: bool = True) -> Template:
    """Postmark's inbound JSON (see postmark_payload), its event id unique per message."""
    body = json.dumps(postmark_payload(raw, MARKER.decode(), with_raw=with_raw)).encode("ascii")
    return Template(
        "/anymail/postmark/inbound/", "application/json", tuple(body.split(MARKER)), len(raw)
    )


def mailgun(raw: bytes, *, signing_key: str) -> Template:
    """Mailgun's forward() to a URL ending in "mime": multipart/form-data with the raw
    message as "body-mime", signed with the webhook signing key. One token and timestamp
    serve every post (anymail checks the signature, not their freshness)."""
    message = _parse(raw)
    token, timestamp = "b" * 50, str(int(datetime.now(UTC).timestamp()))
    signature = hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    fields = {
        "recipient": message["To"].addresses[0].addr_spec,
        "sender": "bob@corp.example.com",
        "from": str(message["From"]),
        "subject": str(message["Subject"]),
        "body-mime": raw.decode("utf-8"),
        "token": token,
        "timestamp": timestamp,
        "signature": signature,
    }
    return _form("/anymail/mailgun/inbound_mime/", fields, len(raw))


def sendgrid(raw: bytes) -> Template:
    """SendGrid's Inbound Parse with "send raw": multipart/form-data with the raw message
    as "email" and the envelope as JSON (authenticated by basic auth only)."""
    message = _parse(raw)
    recipient = message["To"].addresses[0].addr_spec
    fields = {
        "to": recipient,
        "from": str(message["From"]),
        "subject": str(message["Subject"]),
        "envelope": json.dumps({"to": [recipient], "from": "bob@corp.example.com"}),
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"}),
        "email": raw.decode("utf-8"),
    }
    return _form("/anymail/sendgrid/inbound/", fields, len(raw))


def _form(path: str, fields: dict[str, str], message_size: int) -> Template:
    boundary = "----benchboundary7MA4YWxkTrZu0gW"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode("utf-8")
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return Template(
        path, f"multipart/form-data; boundary={boundary}", tuple(body.split(MARKER)), message_size
    )
