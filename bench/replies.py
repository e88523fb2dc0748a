"""Replies to a real confirmation request the way Gmail, Outlook and Apple Mail write
them: the answer above a quote of our whole question (text and HTML), with attachments if
asked. Needs Django set up; the tests and the qcluster worlds both build replies here."""

import html
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.utils import timezone

from bench.payloads import BOB
from mailflow.emails import build_request_email, reply_address
from mailflow.models import ConfirmationRequest

QUOTE_DATE = "Mon, 6 Jan 2025 at 10:00"


def _original(request: ConfirmationRequest) -> tuple[str, str]:
    """Our question email's text and HTML, as the reply quotes them."""
    email = build_request_email(request)
    return email.body, email.alternatives[0][0]


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def gmail(request, answer: str, subject: str) -> tuple[str, str, dict]:
    text, original_html = _original(request)
    header = f"On {QUOTE_DATE}, SOC <soc@localhost> wrote:"
    body = f"{answer}\n\n{header}\n\n{_quoted(text)}\n"
    markup = (
        f'<div dir="ltr">{html.escape(answer)}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">{html.escape(header)}<br></div>'
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{original_html}'
        "</blockquote></div>"
    )
    return body, markup, {"Message-ID": make_msgid(domain="mail.gmail.com")}


def outlook(request, answer: str, subject: str) -> tuple[str, str, dict]:
    text, original_html = _original(request)
    fields = [
        ("From", "SOC <soc@localhost>"),
        ("Sent", "Monday, January 6, 2025 10:00 AM"),
        ("To", f"Bob Builder <{BOB}>"),
        ("Subject", request.subject),
    ]
    quote_header = "\n".join(f"{name}: {value}" for name, value in fields)
    body = f"{answer}\n\n________________________________\n{quote_header}\n\n{text}\n"
    markup = (
        '<div dir="ltr"><div style="font-family: Aptos, sans-serif; font-size: 12pt">'
        f'{html.escape(answer)}</div><div id="appendonsend"></div>'
        '<hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif">'
        + "".join(f"<b>{name}:</b> {html.escape(value)}<br>" for name, value in fields)
        + f"</font><div>&nbsp;</div></div>{original_html}</div>"
    )
    headers = {
        "Message-ID": make_msgid(domain="AM0PR04MB1234.eurprd04.prod.outlook.com"),
        "Thread-Topic": request.subject,
        "Thread-Index": "AQHbYFs4kL0n0vJ3kUe2m0S0Yl2a1w==",
        "Content-Language": "en-US",
        "X-MS-Has-Attach": "",
        "X-MS-TNEF-Correlator": "",
    }
    return body, markup, headers


def apple(request, answer: str, subject: str) -> tuple[str, str, dict]:
    text, original_html = _original(request)
    header = "On 6 Jan 2025, at 10:00, SOC <soc@localhost> wrote:"
    body = f"{answer}\n\nSent from my iPhone\n\n> {header}\n>\n{_quoted(text)}\n"
    markup = (
        f'<html><body dir="auto"><div dir="ltr">{html.escape(answer)}</div>'
        '<div dir="ltr"><br><div>Sent from my iPhone</div></div><div dir="ltr"><br>'
        f'<blockquote type="cite">{html.escape(header)}<br><br></blockquote></div>'
        f'<blockquote type="cite"><div dir="ltr">{original_html}</div></blockquote>'
        "</body></html>"
    )
    headers = {
        "Message-ID": make_msgid(domain="corp.example.com"),
        "X-Mailer": "iPhone Mail (22C152)",
        "Mime-Version": "1.0 (1.0)",
    }
    return body, markup, headers


STYLES: dict[str, Callable] = {"gmail": gmail, "outlook": outlook, "apple": apple}


def reply_mime(
    request: ConfirmationRequest,
    answer: str,
    *,
    style: str = "gmail",
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    sender: str = f"Bob Builder <{BOB}>",
    subject: str | None = None,
    text: str | None = None,
    markup: str | None = None,
) -> bytes:
    """Raw MIME of a reply to `request` in a mail client's style (text and HTML, the
    quote of our question under the answer), with (filename, type, content) attachments."""
    subject = subject or f"Re: [{request.incident.number}] {request.subject}"
    body, html_body, headers = STYLES[style](request, answer, subject)
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = reply_address(request)
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["In-Reply-To"] = request.message_id
    message["References"] = request.message_id
    for name, value in headers.items():
        message[name] = value
    message.set_content(text if text is not None else body)
    message.add_alternative(markup if markup is not None else html_body, subtype="html")
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()
