"""Our own SMTP server for the reply domain (aiosmtpd), for a SOC that runs its own mail:
the MX of REPLY_DOMAIN, or the host a relay delivers that domain to. What it accepts
takes the webhooks' path from the store on (mailflow.inbound.inbound_store_raw).

1. RCPT: only addresses at REPLY_DOMAIN, and at most MAX_RECIPIENTS of them; any other
   domain is 550: it is not an open relay. MAIL FROM may be empty (bounces).
2. Size: SMTPD_MAX_BYTES is announced (SIZE) and enforced (552), before and during DATA.
3. TLS: STARTTLS is offered when SMTPD_TLS_CERT and SMTPD_TLS_KEY are set, never
   required: RFC 3207 forbids a publicly referenced server to require it, and a sending
   server that cannot negotiate it would bounce the person's reply.
4. DATA: the message is stored once per accepted recipient, since the row's key and its
   correlation (reply+TOKEN) are the recipient's. 250 only once every copy and its row
   are durable (flushed and committed); a database outage, a storage error or a bug of
   ours is 451, so the sending server keeps the message and tries again; the same
   message again is the same row. A value the database refuses is 554, as the webhooks
   answer it 400: trying again cannot help.
"""

import logging
import socket
import ssl
import traceback
from functools import cache

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session, TLSSetupException
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, DataError, close_old_connections

from mailflow.inbound import inbound_store_raw

logger = logging.getLogger(__name__)

SOURCE = "SMTP"
# A reply goes to one reply address; a few more cover a person answering two questions in
# one email. Each recipient is one stored copy of the message, so the limit bounds the
# disk a single message can take. A client told 452 sends the rest in another
# transaction (RFC 5321, 4.5.3.1.10), so nothing is lost.
MAX_RECIPIENTS = 10

STORED = "250 2.0.0 Message stored"
NOT_A_RELAY = "550 5.7.1 Relaying denied: this server accepts mail for its reply domain only"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients; send the others in another message"
TRY_AGAIN = "451 4.3.0 The message could not be stored just now; please try again later"
REFUSED_DATA = "554 5.6.0 The message holds data that cannot be stored; it was not kept"


class ReplyDomainHandler:
    """aiosmtpd's handler: accepts recipients at the reply domain and stores what it
    is given for them. Every answer is a constant: nothing a sender wrote is echoed."""

    def __init__(self, *, reply_domain: str) -> None:
        self.reply_domain = reply_domain.lower().rstrip(".")

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        recipient = self.accepted_recipient(address)
        if not recipient:
            return NOT_A_RELAY
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(recipient)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    def accepted_recipient(self, address: str) -> str:
        """The address in lower case when it is at the reply domain, else "". The bare
        `postmaster` every server must accept (RFC 5321, 4.5.1) is our postmaster."""
        if address.lower() == "postmaster":
            return f"postmaster@{self.reply_domain}"
        local, at, domain = address.rpartition("@")
        if not (local and at) or domain.lower().rstrip(".") != self.reply_domain:
            return ""
        return f"{local}@{self.reply_domain}".lower()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = "" if envelope.mail_from in (None, "<>") else str(envelope.mail_from)
        try:
            await sync_to_async(store_message, thread_sensitive=True)(
                raw=envelope.original_content or b"",
                recipients=list(envelope.rcpt_tos),
                sender=sender,
            )
        except DataError as error:
            # The store cleans what it keeps (core.text): anything the database still
            # refuses is ours to fix, and would be refused again on every retry.
            _log(error, "a value the database refused", REFUSED_DATA)
            return REFUSED_DATA
        except (DatabaseError, OSError) as error:
            _log(error, "database or storage unavailable", TRY_AGAIN)
            return TRY_AGAIN
        except Exception as error:
            _log(error, "unexpected error", TRY_AGAIN)
            return TRY_AGAIN
        return STORED

    async def handle_exception(self, error: Exception) -> str:
        # Anything else a session raises: aiosmtpd's own answer would quote the error.
        if isinstance(error, TLSSetupException):
            # A client that gave up on the handshake (scanners do): aiosmtpd closes it.
            logger.warning("SMTP client failed the TLS handshake: %s", type(error).__name__)
        else:
            _log(error, "unexpected error in the SMTP session", TRY_AGAIN)
        return TRY_AGAIN


def store_message(*, raw: bytes, recipients: list[str], sender: str) -> None:
    """Store `raw` for each recipient (mailflow.inbound.inbound_store_raw). Runs in the
    thread that owns the ORM's connection. The process runs for days: a connection past
    its age (CONN_MAX_AGE), or one an error left unusable, is closed before and after
    each message, as Django does around a request; one the database dropped in between
    is found by the health check (CONN_HEALTH_CHECKS) when the next message uses it."""
    close_old_connections()
    try:
        for recipient in dict.fromkeys(recipients):
            inbound_store_raw(
                source=SOURCE,
                raw=delivered(raw, sender=sender, recipient=recipient),
                envelope_recipient=recipient,
                envelope_sender=sender,
            )
    finally:
        close_old_connections()


def delivered(raw: bytes, *, sender: str, recipient: str) -> bytes:
    """The message with the lines a final delivery adds on top: Return-Path (RFC 5321,
    4.4), whose emptiness is how a bounce is known, and Delivered-To, which tells one
    recipient's copy from another's even without a Message-ID. No Received line: its
    time would make the sender's retry of a message without a Message-ID a new one."""
    return _header("Return-Path", f"<{sender}>") + _header("Delivered-To", recipient) + raw


def _header(name: str, value: str) -> bytes:
    # The addresses come parsed from the SMTP commands; a line break is refused anyway.
    line = value.encode("utf-8", "replace").translate(None, b"\r\n")
    return name.encode() + b": " + line + b"\r\n"


def _log(error: Exception, what: str, answer: str) -> None:
    # Only the exception's type and the line that raised it: its message can quote the
    # message's addresses or its de-duplication key.
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    logger.error(
        "SMTP message not stored (%s): %s, %s raised at %s",
        answer[:3],
        what,
        type(error).__name__,
        where,
    )


def tls_context(cert: str, key: str) -> ssl.SSLContext | None:
    """A server context for STARTTLS from a certificate chain and its key (PEM files), or
    None when neither is set."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise ImproperlyConfigured("Set both SMTPD_TLS_CERT and SMTPD_TLS_KEY, or neither.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ImproperlyConfigured(
            f"SMTPD_TLS_CERT and SMTPD_TLS_KEY could not be loaded: {error}"
        ) from error
    return context


@cache
def _fqdn() -> str:
    # Looked up once: aiosmtpd would ask the resolver again for every connection.
    return socket.getfqdn()


def reply_domain_controller(*, host: str, port: int) -> Controller:
    """The server on host:port, configured from the settings, in a thread of its own
    (start() and stop() it)."""
    return Controller(
        ReplyDomainHandler(reply_domain=settings.REPLY_DOMAIN),
        hostname=host,
        port=port,
        server_hostname=_fqdn(),
        ident="SOC reply receiver",
        data_size_limit=settings.SMTPD_MAX_BYTES,
        tls_context=tls_context(settings.SMTPD_TLS_CERT, settings.SMTPD_TLS_KEY),
        require_starttls=False,
        enable_SMTPUTF8=True,
    )
