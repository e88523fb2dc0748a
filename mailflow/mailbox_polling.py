"""Reading replies and bounces from mailboxes, over IMAP or Microsoft Graph (the round
itself is mailflow.graph_mailbox; here it gets the same lease, status and backoff). Over
IMAP, each message is kept as raw MIME
through the webhooks' store (mailflow.inbound.inbound_store_raw), under the same
de-duplication key, so a message seen by a webhook and by a poll is one message.

Nothing read twice, nothing lost: a message is marked in the mailbox (moved to the
processed folder, or flagged $SocProcessed) only after its row has committed, and
`last_uid` advances only after the mark. A crash between the store and the mark re-reads
that one message next time, and the store finds it under its key.

A poll that fails (login refused, server down, a certificate that does not verify, a
timeout) is recorded on the mailbox with a sentence for the admin, logged without
addresses or secrets, and the next poll waits twice as long each time up to
MAILBOX_BACKOFF_MAX. Nothing raises out of the scheduled task."""

import logging
import os
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from core.actors import Actor
from core.enqueue import enqueue_on_commit
from core.logging import redact
from mailflow.graph_mailbox import GraphConfig, poll_graph_mailbox
from mailflow.inbound import inbound_store_raw
from mailflow.mailbox_oauth import TokenError, access_token, forget_tokens
from mailflow.models import Mailbox

logger = logging.getLogger(__name__)

PROCESSED_FLAG = b"$SocProcessed"
# A poll holds its mailbox this long, renewed after each message: longer than a task may
# run (Q_CLUSTER's timeout), so a lease runs out only when its worker is gone.
LEASE = timedelta(minutes=5)
# One poll stops taking new messages after this long and lets the next poll carry on:
# a task that ran past Q_CLUSTER's timeout would be killed and handed out again.
TIME_BUDGET = 60.0
# A server's Retry-After is waited, up to this: a wrong or hostile header must not stop a
# mailbox for good (nor overflow a date).
RETRY_AFTER_MAX = 24 * 60 * 60
# The configuration a Graph delta link belongs to: a change to one of these starts over.
_GRAPH_POSITION = ("kind", "tenant_id", "username", "folder")


class MailboxError(Exception):
    """A poll that could not finish: the message is the sentence the admin shows."""


@dataclass(frozen=True)
class PollResult:
    stored: int  # new rows
    marked: int  # messages marked in the mailbox (new or seen before)
    backlog: int  # left in the folder for the next poll
    error: str = ""


def mailbox_poll(*, mailbox_id: int) -> PollResult | None:
    """Poll one mailbox, unless another worker holds it or it is disabled (None).

    1. Claim it: a conditional update takes its lease, so two workers never poll at once.
    2. Connect (with MAILBOX_TIMEOUT), log in, select the folder; a new UIDVALIDITY starts
       over from the folder's unmarked messages (the store absorbs repeats).
    3. For each unmarked UID above last_uid, in order: fetch it with BODY.PEEK[] (nothing
       becomes \\Seen early), store it, mark it, then advance last_uid.
    4. Record the outcome and release the lease; a failure backs the next poll off."""
    now = timezone.now()
    claimed = (
        Mailbox.objects.filter(pk=mailbox_id, enabled=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE, last_poll_at=now)
    )
    if not claimed:
        return None
    mailbox = Mailbox.objects.get(pk=mailbox_id)
    if mailbox.kind == Mailbox.Kind.GRAPH:
        return _poll_graph(mailbox)
    progress = _Progress()
    try:
        _read(mailbox, progress)
    except Exception as error:  # every failure is recorded, none escapes the task
        return _record_failure(mailbox, progress, _describe(mailbox, error))
    return _record_success(mailbox, progress)


def mailboxes_poll_due() -> int:
    """Scheduled every minute: enqueue a poll of each enabled mailbox that is due and not
    held by a poll already. Returns how many."""
    now = timezone.now()
    due = list(
        Mailbox.objects.filter(enabled=True, next_poll_at__lte=now)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)
    )
    for pk in due:
        enqueue_on_commit("mailflow.tasks.poll_mailbox", pk)
    return len(due)


def mailbox_poll_now(*, mailbox: Mailbox, actor: Actor) -> None:
    """ "Poll now" in the admin: due at once, whatever its backoff, polled by a worker."""
    Mailbox.objects.filter(pk=mailbox.pk).update(next_poll_at=timezone.now())
    enqueue_on_commit("mailflow.tasks.poll_mailbox", mailbox.pk)
    logger.info("Mailbox %s: poll requested by an %s", mailbox.pk, actor.kind)


def mailbox_save(*, mailbox: Mailbox, actor: Actor) -> Mailbox:
    """Create or change a mailbox's configuration (the admin's form). Only the
    configuration is written, never the polling state a running poll may be writing; a
    changed mailbox is due at once, so a fixed password is tried without its backoff."""
    mailbox.full_clean()
    config = [
        field.name
        for field in Mailbox._meta.concrete_fields
        if field.editable and not field.primary_key
    ]
    mailbox.next_poll_at = timezone.now()
    if mailbox._state.adding:
        mailbox.save()
    else:
        before = Mailbox.objects.filter(pk=mailbox.pk).values(*_GRAPH_POSITION).first() or {}
        if any(before.get(name) != getattr(mailbox, name) for name in _GRAPH_POSITION):
            # A delta link names its folder: another folder or mailbox starts from its
            # beginning (what was stored before is recognised by its key).
            mailbox.cursor = ""
            config.append("cursor")
        mailbox.save(update_fields=[*config, "next_poll_at"])
    logger.info("Mailbox %s: configuration saved by an %s", mailbox.pk, actor.kind)
    return mailbox


def mailbox_secret_is_set(mailbox: Mailbox) -> bool:
    return bool(os.environ.get(mailbox.secret_env))


@dataclass
class _Progress:
    stored: int = 0
    marked: int = 0
    backlog: int = 0


def _read(mailbox: Mailbox, progress: _Progress) -> None:
    secret = os.environ.get(mailbox.secret_env, "")
    if not secret:
        raise MailboxError(f"The environment variable {mailbox.secret_env} is not set.")
    started = time.monotonic()
    with _connect(mailbox) as client:
        _login(client, mailbox, secret)
        _select(client, mailbox)
        if mailbox.processed_folder and not client.folder_exists(mailbox.processed_folder):
            client.create_folder(mailbox.processed_folder)
        uids = _unmarked(client, mailbox)
        progress.backlog = len(uids)
        for uid in uids[: settings.MAILBOX_POLL_BATCH]:
            if time.monotonic() - started > TIME_BUDGET:
                break
            raw = _fetch(client, uid)
            if raw is not None:  # None: deleted by someone else since the search
                _, new = inbound_store_raw(source=mailbox.source, raw=raw)
                progress.stored += new
                _mark(client, mailbox, uid)
                progress.marked += 1
            progress.backlog -= 1
            # The row has committed and the message is marked: only now does it count.
            mailbox.last_uid = uid
            Mailbox.objects.filter(pk=mailbox.pk).update(
                last_uid=uid, backlog=progress.backlog, lease_until=timezone.now() + LEASE
            )


def _poll_graph(mailbox: Mailbox) -> PollResult:
    """One Graph round from the stored delta link. poll_graph_mailbox never raises and
    hands back the link to keep: the new one after a finished round, the old one
    otherwise; it is saved every time."""
    try:
        config = graph_config(mailbox)
    except MailboxError as error:
        return _record_failure(mailbox, _Progress(), str(error))
    # The IMAP poll's bounds: a round that outlived its lease could be taken up by a
    # second worker.
    result = poll_graph_mailbox(
        config,
        mailbox.cursor,
        max_messages=settings.MAILBOX_POLL_BATCH,
        max_seconds=TIME_BUDGET,
    )
    # Only while the mailbox still reads the same folder: an admin may have pointed it
    # elsewhere during the round (mailbox_save then emptied the cursor).
    Mailbox.objects.filter(
        pk=mailbox.pk,
        kind=Mailbox.Kind.GRAPH,
        tenant_id=mailbox.tenant_id,
        username=mailbox.username,
        folder=mailbox.folder,
    ).update(cursor=result.delta_link, lease_until=timezone.now() + LEASE)
    # A round stopped at its budget left messages behind: the next tick carries on.
    progress = _Progress(stored=result.new, marked=result.moved, backlog=int(result.more))
    if result.error:
        return _record_failure(mailbox, progress, result.error, retry_after=result.retry_after)
    return _record_success(mailbox, progress)


def graph_config(mailbox: Mailbox) -> GraphConfig:
    """The mailbox as the Graph reader takes it. The one variable holds the client secret
    or, when it is PEM text, the certificate (the unencrypted private key followed by the
    certificate uploaded to the app registration)."""
    credential = os.environ.get(mailbox.secret_env, "")
    if not credential.strip():
        raise MailboxError(f"The environment variable {mailbox.secret_env} is not set.")
    is_pem = "-----BEGIN " in credential
    return GraphConfig(
        name=mailbox.name,
        tenant_id=mailbox.tenant_id,
        client_id=mailbox.oauth_client_id,
        client_secret="" if is_pem else credential,
        client_certificate=credential if is_pem else "",
        mailbox=mailbox.username,
        # IMAP's default folder name means Graph's well-known inbox.
        folder="inbox" if mailbox.folder.upper() == "INBOX" else mailbox.folder,
        processed_folder=mailbox.processed_folder,
    )


def _connect(mailbox: Mailbox) -> IMAPClient:
    context = ssl.create_default_context(cafile=settings.MAILBOX_CA_FILE or None)
    tls = mailbox.security == Mailbox.Security.TLS
    client = IMAPClient(
        mailbox.host,
        port=mailbox.port,
        ssl=tls,
        ssl_context=context,
        timeout=settings.MAILBOX_TIMEOUT,
    )
    # IMAPClient turns imaplib's debugging on and hands it to a logger, so imaplib writes
    # out every server response as text, a fetched message's whole body included, even
    # with DEBUG logging off: that copy cost more memory than the message itself, and a
    # DEBUG log would hold what was sent and fetched.
    client._imap.debug = 0
    if not tls:
        try:
            client.starttls(ssl_context=context)
        except BaseException:
            client.shutdown()
            raise
    return client


def _login(client: IMAPClient, mailbox: Mailbox, secret: str) -> None:
    if mailbox.auth == Mailbox.Auth.XOAUTH2:
        token = access_token(
            token_url=mailbox.oauth_token_url,
            client_id=mailbox.oauth_client_id,
            scope=mailbox.oauth_scope,
            grant=mailbox.oauth_grant,
            secret=secret,
        )
        try:
            # Sends the SASL string user=<user>\x01auth=Bearer <token>\x01\x01.
            client.oauth2_login(mailbox.username, token)
        except LoginError:
            forget_tokens()  # a revoked token: the next poll asks for a new one
            raise
    else:
        client.login(mailbox.username, secret)


def _select(client: IMAPClient, mailbox: Mailbox) -> None:
    info = client.select_folder(mailbox.folder)
    validity = int(info[b"UIDVALIDITY"])
    if mailbox.uid_validity != validity:
        if mailbox.uid_validity is not None:
            logger.warning(
                "Mailbox %s: the folder's UIDVALIDITY changed; reading its unmarked "
                "messages again (those stored before are recognised).",
                mailbox.pk,
            )
        mailbox.uid_validity, mailbox.last_uid = validity, 0
        Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=0)


def _unmarked(client: IMAPClient, mailbox: Mailbox) -> list[int]:
    """The UIDs above last_uid not yet marked, oldest first. "n:*" always names the
    highest UID, even below n: hence the filter."""
    criteria: list = ["UID", f"{mailbox.last_uid + 1}:*"]
    if not mailbox.processed_folder:
        criteria += ["NOT", "KEYWORD", PROCESSED_FLAG.decode()]
    return sorted(uid for uid in client.search(criteria) if uid > mailbox.last_uid)


def _fetch(client: IMAPClient, uid: int) -> bytes | None:
    answer = client.fetch([uid], ["BODY.PEEK[]"])
    data = answer.get(uid, {})
    raw = data.get(b"BODY[]")
    return bytes(raw) if raw is not None else None


def _mark(client: IMAPClient, mailbox: Mailbox, uid: int) -> None:
    if mailbox.processed_folder and client.has_capability("MOVE"):
        client.move([uid], mailbox.processed_folder)
    elif mailbox.processed_folder:
        # Without MOVE (RFC 6851): copy, then delete. A crash in between leaves a copy in
        # both folders; the next poll stores nothing new and copies it once more.
        client.copy([uid], mailbox.processed_folder)
        client.delete_messages([uid])
        if client.has_capability("UIDPLUS"):
            client.expunge([uid])
        else:
            client.expunge()
    else:
        client.add_flags([uid], [PROCESSED_FLAG, b"\\Seen"])


def _record_success(mailbox: Mailbox, progress: _Progress) -> PollResult:
    now = timezone.now()
    # A backlog left by the batch or the time budget: the next tick carries on at once.
    wait = 0 if progress.backlog else mailbox.poll_interval
    if progress.marked:
        logger.info(
            "Mailbox %s: %s message(s) stored, %s marked, %s waiting",
            mailbox.pk,
            progress.stored,
            progress.marked,
            progress.backlog,
        )
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_success_at=now,
        last_error="",
        consecutive_failures=0,
        next_poll_at=now + timedelta(seconds=wait),
        backlog=progress.backlog,
        lease_until=None,
    )
    return PollResult(progress.stored, progress.marked, progress.backlog)


def _record_failure(
    mailbox: Mailbox, progress: _Progress, sentence: str, *, retry_after: int | None = None
) -> PollResult:
    """Count the failure and back off; a server's Retry-After (seconds) is waited at least."""
    failures = mailbox.consecutive_failures + 1
    now = timezone.now()
    next_at = backoff_until(now=now, interval=mailbox.poll_interval, failures=failures)
    if retry_after is not None:
        next_at = max(next_at, now + timedelta(seconds=min(retry_after, RETRY_AFTER_MAX)))
    logger.warning(
        "Mailbox %s: poll failed (%s in a row, next at %s): %s",
        mailbox.pk,
        failures,
        next_at.isoformat(timespec="seconds"),
        sentence,
    )
    fields = {
        "last_error": sentence,
        "consecutive_failures": failures,
        "next_poll_at": next_at,
        "lease_until": None,
    }
    if progress.backlog:
        fields["backlog"] = progress.backlog
    Mailbox.objects.filter(pk=mailbox.pk).update(**fields)
    return PollResult(progress.stored, progress.marked, progress.backlog, sentence)


def backoff_until(*, now: datetime, interval: int, failures: int) -> datetime:
    """The interval doubled for each failure in a row, capped at MAILBOX_BACKOFF_MAX."""
    cap = settings.MAILBOX_BACKOFF_MAX
    seconds = min(cap, max(interval, 60) * 2 ** min(failures, 20))
    return now + timedelta(seconds=seconds)


def _describe(mailbox: Mailbox, error: Exception) -> str:
    """A sentence for the admin: what failed and what to check. Server texts go through
    the log redaction (a server may quote the user name)."""
    where = f"{mailbox.host}:{mailbox.port}"
    if isinstance(error, MailboxError | TokenError):
        return str(error)
    if isinstance(error, LoginError):
        return (
            f"The server refused the login of the configured user ({_said(error)}): check "
            f"the user name and the secret in {mailbox.secret_env}."
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"The TLS certificate of {where} could not be verified "
            f"({error.verify_message}): check the host name, or set MAILBOX_CA_FILE for "
            "a private certificate authority."
        )
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed ({error.reason or 'handshake'})."
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection: is the IMAP server running on that port?"
    if isinstance(error, socket.gaierror):
        return f"The host name {mailbox.host} could not be resolved."
    if isinstance(error, TimeoutError):
        return f"{where} did not answer within {settings.MAILBOX_TIMEOUT} seconds."
    if isinstance(error, OSError):
        return f"The connection to {where} failed ({error.strerror or type(error).__name__})."
    if isinstance(error, IMAPClientError):
        return f"The server answered with an error: {_said(error)}."
    logger.exception("Mailbox %s: unexpected error while polling", mailbox.pk)
    return f"Unexpected error while polling ({type(error).__name__}); see the log."


def _said(error: Exception) -> str:
    said = error.args[0] if error.args else ""
    if isinstance(said, bytes):  # IMAPClient passes on the server's answer as it came
        said = said.decode(errors="replace")
    text = str(said).strip()
    if text[:2] in ("b'", 'b"') and text[-1:] == text[1]:
        text = text[2:-1]  # the answer's bytes, already written out as Python shows them
    text = text.strip().strip(".")
    return redact(text)[:300] or type(error).__name__
