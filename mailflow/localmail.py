"""Email for local use: every message is written to var/mail/ as an .eml file, and staff
can read them at /dev/mailbox/ to click through the scenarios without an email provider.

The mailbox keeps one copy per Message-ID, as a provider that takes an idempotency key
does: a worker killed after handing an email over and before recording it sent hands it
over again, with the same Message-ID (mailflow.sending). It may also be killed halfway
through a hand-over, so every step can be done again: the file name an email gets is
chosen once and kept in var/mail/.handed-over/<digest of the Message-ID>.name, and each file
is written whole under a temporary name, then renamed into place. Each hand-over is a line
in <digest>.log beside it, so the repeats stay countable (bench/drill_worker_kill.py).
An email's envelope sender is kept as its Return-Path header, as a mail server records it."""

import email
import email.policy
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from mailflow.smtp_backend import envelope_sender

BACKEND = "mailflow.localmail.EmailBackend"
_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}\.eml$")


def mail_dir() -> Path:
    return Path(settings.EMAIL_FILE_PATH)


def handed_over_dir() -> Path:
    return mail_dir() / ".handed-over"


def repeated_hand_overs() -> int:
    """How many hand-overs were of an email the mailbox already kept."""
    folder = handed_over_dir()
    if not folder.is_dir():
        return 0
    return sum(len(log.read_text().splitlines()) - 1 for log in folder.glob("*.log"))


def _write_whole(path: Path, content: bytes) -> None:
    """Written under a hidden name, then renamed: a kill while writing leaves no half file
    where a reader (or the next hand-over) would take it as whole."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(content)
    partial.rename(path)


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder, markers = mail_dir(), handed_over_dir()
        markers.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            mime = message.message()  # Django gives one without a Message-ID a fresh one
            sender = envelope_sender(message)
            if sender:
                # As the receiving server would record the envelope sender (VERP at work).
                mime["Return-Path"] = f"<{sender}>"
            digest = hashlib.sha256(str(mime["Message-ID"]).encode()).hexdigest()
            marker = markers / f"{digest}.name"
            if not marker.exists():
                name = f"{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}.eml"
                _write_whole(marker, name.encode())
            email_file = folder / marker.read_text()
            if not email_file.exists():
                _write_whole(email_file, mime.as_bytes())
            with (markers / f"{digest}.log").open("a") as log:
                log.write(f"{timezone.now().isoformat()}\n")
        return len(email_messages)


@dataclass
class StoredEmail:
    name: str
    sent_at: datetime
    subject: str
    to: str
    text: str
    html: str  # the HTML part as sent, "" when there is none


def stored_emails(limit: int = 100) -> list[StoredEmail]:
    """The newest emails first."""
    folder = mail_dir()
    if not folder.is_dir():
        return []
    names = sorted((p.name for p in folder.iterdir() if _NAME.match(p.name)), reverse=True)
    return [stored_email(name) for name in names[:limit]]


def stored_email(name: str) -> StoredEmail | None:
    if not _NAME.match(name):
        return None  # never a path from the URL onto the disk
    path = mail_dir() / name
    if not path.is_file():
        return None
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    return StoredEmail(
        name=name,
        sent_at=datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC),
        subject=str(parsed["Subject"] or ""),
        to=str(parsed["To"] or ""),
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
    )
