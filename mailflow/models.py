"""Confirmation requests (the question emailed to a person), their answers, and the
delivery events email providers report about them."""

import re
import secrets
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.storage import DurableFileSystemStorage
from incidents.models import Person, ResponseTask, SecurityIncident
from runbooks.models import RunbookRun


class ConfirmationRequest(models.Model):
    class Kind(models.TextChoices):
        QUESTION = "question", "Question"
        # One approver's seat of an ask_approval step (mailflow.approvals).
        APPROVAL = "approval", "Approval"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        ANSWERED = "answered", "Answered"
        NO_ANSWER = "no_answer", "No answer"
        UNDELIVERABLE = "undeliverable", "Undeliverable"
        CANCELLED = "cancelled", "Cancelled"
        # The person's automatic reply says they are back later than the step waits.
        OUT_OF_OFFICE = "out_of_office", "Away (out of office)"

    run = models.ForeignKey(RunbookRun, on_delete=models.PROTECT, related_name="requests")
    step_position = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.QUESTION)
    # 0 for a question; an approval step's approvers sit at 0..n-1, one request each.
    seat = models.PositiveSmallIntegerField(default=0)
    incident = models.ForeignKey(
        SecurityIncident, on_delete=models.PROTECT, related_name="confirmation_requests"
    )
    task = models.ForeignKey(
        ResponseTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # An approver who is a staff user (who may also vote on the incident page); one
    # without a directory entry has no `person`, and is named after this user.
    approver_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipient_email = models.EmailField(blank=True, help_text="The address the email went to.")
    language = models.CharField(max_length=10, default="en")
    question = models.TextField()
    options = models.JSONField(help_text="[{key, label}], as the person saw them.")
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    evidence_requested = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)

    # Tokens are derived from SECRET_KEY and `token_nonce` when an email is built; the
    # database keeps only their hashes, so a database leak reveals no working link.
    token_nonce = models.CharField(max_length=32, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    reply_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The envelope sender's token (bounce+TOKEN@REPLY_DOMAIN). Null, not "", for a request
    # without one (rows written before it existed, until the migration fills them): unique
    # allows many NULLs. A request without one is sent with the provider's bounce address.
    bounce_token_hash = models.CharField(  # noqa: DJ001
        max_length=64, unique=True, null=True, editable=False
    )
    message_id = models.CharField(max_length=250, unique=True, editable=False)
    provider_message_id = models.CharField(max_length=250, blank=True, db_index=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # The next reminder due (the schedule reads this one), and all reminders as planned,
    # as ISO times in order: the next is reminders_planned[reminders_sent].
    remind_at = models.DateTimeField(null=True, blank=True)
    reminders_planned = models.JSONField(default=list, blank=True, editable=False)
    deadline_at = models.DateTimeField()
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    # When an automatic reply says the person is back (mailflow.away), once read.
    away_until = models.DateTimeField(null=True, blank=True, editable=False)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    # Sends the provider put off (throttling, an outage, a dropped connection): retried
    # later with backoff, never counted as failed attempts.
    send_deferrals = models.PositiveIntegerField(default=0)
    # The sender holds the request until then; a crashed sender's claim expires.
    send_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True)
    scanner_hits = models.PositiveIntegerField(
        default=0, help_text="Link visits that looked like a mail scanner, never answers."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        # Not staff alone: the local mailbox shows every question with its live answer links.
        permissions = [("view_local_mailbox", "Can read the local mailbox (/dev/mailbox/)")]
        constraints = [
            # One question per run step and seat: re-running an ask_user or ask_approval
            # step asks nobody again.
            models.UniqueConstraint(
                fields=["run", "step_position", "seat"], name="request_per_step_seat"
            )
        ]
        indexes = [
            # The reminder and deadline schedule reads open requests by due time.
            models.Index(
                fields=["deadline_at"],
                condition=Q(state__in=["pending", "sent", "delivered"]),
                name="request_open_deadline_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident.number}: {self.question[:60]}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def label_of(self, key: str) -> str:
        return next((o["label"] for o in self.options if o["key"] == key), key)


# A question still waiting for its answer: not yet sent, sent, or delivered.
OPEN_STATES = (
    ConfirmationRequest.State.PENDING,
    ConfirmationRequest.State.SENT,
    ConfirmationRequest.State.DELIVERED,
)


class ResentEmail(models.Model):
    """The question emailed again at an analyst's request: the same links and reply
    address (the same tokens), under a Message-ID of its own, so a reply or a bounce to
    either email finds the request (mailflow.request_actions)."""

    request = models.ForeignKey(
        ConfirmationRequest, on_delete=models.CASCADE, related_name="resent_emails"
    )
    message_id = models.CharField(max_length=250, unique=True, editable=False)
    provider_message_id = models.CharField(max_length=250, blank=True, db_index=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    # A worker claims the send with this lease, so a task run twice sends it once.
    send_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failed = models.BooleanField(default=False, help_text="Given up: it was not sent.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.request.incident.number}: sent again {self.created_at:%Y-%m-%d %H:%M}"


class SendRateSlot(models.Model):
    """When the next email may go to the provider under EMAIL_SEND_RATE: one row that
    every worker of every process takes its sending slot from (mailflow/pacing.py)."""

    # Seconds since the epoch: one UPDATE … RETURNING moves it on with plain arithmetic,
    # the same SQL on SQLite and PostgreSQL (their date arithmetic differs).
    next_at = models.FloatField(help_text="When the next email may go, in seconds since 1970.")

    def __str__(self) -> str:
        return f"Next email at {datetime.fromtimestamp(self.next_at, UTC):%H:%M:%S.%f %Z}"


class Answer(models.Model):
    class Channel(models.TextChoices):
        PAGE = "page", "Answer page"
        EMAIL_REPLY = "email_reply", "Email reply"
        # A staff approver's vote on the incident's admin page (mailflow.approvals).
        ADMIN = "admin", "Incident page"

    request = models.ForeignKey(
        ConfirmationRequest, on_delete=models.PROTECT, related_name="answers"
    )
    option_key = models.CharField(max_length=30, help_text="Or 'unrecognised'.")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    comment = models.TextField(blank=True)
    received_at = models.DateTimeField(
        default=timezone.now, help_text="When we received it (never the sender's Date)."
    )
    sender = models.CharField(max_length=254, blank=True, help_text="Who answered.")
    from_recipient = models.BooleanField(default=True)
    suspected_automated = models.BooleanField(default=False)
    sender_mismatch = models.BooleanField(default=False)
    is_revision = models.BooleanField(default=False)
    late = models.BooleanField(default=False, help_text="Arrived after the request closed.")
    counted = models.BooleanField(default=False, help_text="This answer resumed the runbook.")
    # An analyst who verified a reply the app could not tie to our email and took it as
    # the answer; empty when the person's own answer counted by itself.
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # For an answer held as a possible mail scanner that nobody confirmed in time: the task
    # that asks an analyst to. Set once, so checking it again never makes a second task.
    review_task = models.ForeignKey(
        ResponseTask,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    ip_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    # The email that tells the person their reply was recorded (mailflow.acknowledgements):
    # due, then claimed by a conditional UPDATE (sending), so it goes out once.
    acknowledgement = models.CharField(
        max_length=8, blank=True, editable=False,
        choices=[("due", "Due"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed")],
    )  # fmt: skip
    acknowledge_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            # The sweep reads the few held answers not yet made a task among all answers.
            models.Index(
                fields=["received_at"],
                condition=Q(suspected_automated=True, counted=False, review_task__isnull=True),
                name="answer_held_unreviewed_idx",
            ),
            # The sweep reads the few acknowledgements due whose task was lost.
            models.Index(
                fields=["acknowledge_at"],
                condition=Q(acknowledgement="due"),
                name="answer_ack_due_idx",
            ),
        ]
        constraints = [
            # Only one answer per request ever moves its runbook on.
            models.UniqueConstraint(
                fields=["request"], condition=Q(counted=True), name="one_counted_answer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.option_key} ({self.get_channel_display()})"

    @property
    def flags(self) -> list[str]:
        names = {
            "suspected_automated": "suspected automated",
            "sender_mismatch": "sender mismatch",
            "is_revision": "revision",
            "late": "late",
        }
        return [label for field, label in names.items() if getattr(self, field)]

    @property
    def held(self) -> bool:
        """Whether this answer, already loaded with its request, is one of HELD_ANSWERS."""
        flagged = self.suspected_automated or self.sender_mismatch
        return flagged and not self.counted and self.request.is_open


# Answers kept but not taken (a possible scanner, another sender) whose question is still
# open: an analyst may take one as the answer, or the person may answer again.
HELD_ANSWERS = (Q(suspected_automated=True) | Q(sender_mismatch=True)) & Q(
    counted=False, request__state__in=OPEN_STATES
)


class TrackingEvent(models.Model):
    """A delivery event from the email provider, stored before anything acts on it."""

    provider = models.CharField(max_length=40)
    event_type = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=250, blank=True)
    request = models.ForeignKey(
        ConfirmationRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tracking_events",
    )
    recipient = models.CharField(max_length=254, blank=True)
    description = models.TextField(blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            # The sweep reads the few unprocessed events among many processed ones.
            models.Index(
                fields=["received_at"],
                condition=Q(processed_at__isnull=True),
                name="tracking_unprocessed_idx",
            )
        ]
        constraints = [
            # A provider retrying a webhook delivers the same event id again.
            models.UniqueConstraint(
                fields=["provider", "event_id"],
                condition=~Q(event_id=""),
                name="tracking_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type}"


def inbound_storage() -> DurableFileSystemStorage:
    # Raw messages are hostile and may be large: on disk, outside any web root.
    return DurableFileSystemStorage(location=settings.INBOUND_ROOT, base_url=None)


def inbound_upload_path(instance: "InboundEmail", filename: str) -> str:
    return f"{timezone.now():%Y/%m}/{secrets.token_hex(16)}.eml"


def inbound_post_path(instance: "InboundEmail", filename: str) -> str:
    return f"{timezone.now():%Y/%m}/{secrets.token_hex(16)}.post"


class InboundEmail(models.Model):
    """An email a provider posted to our inbound webhook, stored before anything reads it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        ANSWERED = "answered", "Answer recorded"
        FLAGGED = "flagged", "Flagged for an analyst"
        IGNORED = "ignored", "Ignored"
        DUPLICATE = "duplicate", "Duplicate delivery"
        FAILED = "failed", "Failed"

    # Where it came from: the webhook's provider, "IMAP <mailbox>" or "SMTP".
    provider = models.CharField("source", max_length=40)
    provider_event_id = models.CharField(max_length=200, blank=True)
    # Normalised Message-ID plus envelope recipient, or the raw message's hash when there is
    # no Message-ID: the same message delivered twice (even with another event id) is one.
    # Until a stored post is parsed: the post's hash (a provider's retry is the same row).
    dedupe_key = models.CharField(max_length=400, unique=True)
    message_id = models.CharField(max_length=250, blank=True)
    envelope_sender = models.CharField(max_length=254, blank=True)
    envelope_recipient = models.CharField(max_length=254, blank=True)
    from_header = models.CharField(max_length=500, blank=True)
    to_header = models.TextField(blank=True)
    subject = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    raw = models.FileField(storage=inbound_storage, upload_to=inbound_upload_path, blank=True)
    # The provider's post as it came, kept until the worker has parsed it into `raw`.
    post = models.FileField(storage=inbound_storage, upload_to=inbound_post_path, blank=True)
    post_content_type = models.CharField(
        max_length=200, blank=True, help_text="Of the provider's post, while it is kept."
    )
    size = models.PositiveBigIntegerField(default=0)
    extra_addresses = models.JSONField(
        default=list, blank=True, help_text="Provider fields that may hold the reply address."
    )
    verdicts = models.JSONField(default=dict, blank=True, help_text="Spam and SPF/DKIM/DMARC.")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    reason = models.TextField(blank=True)
    classification = models.CharField(max_length=20, blank=True)
    correlation = models.CharField(max_length=40, blank=True, help_text="How it was matched.")
    request = models.ForeignKey(
        ConfirmationRequest,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_emails",
    )
    incident = models.ForeignKey(
        SecurityIncident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answer = models.ForeignKey(
        Answer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reply_text = models.TextField(blank=True, help_text="The reply without quoted text.")
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound email"
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_idx")]

    def __str__(self) -> str:
        return self.subject or f"Inbound email {self.pk}"


# The environment variable that holds a mailbox's secret: a name, never the secret itself.
_ENV_NAME = RegexValidator(
    r"^[A-Z_][A-Z0-9_]*$", "An environment variable's name: capitals, digits and underscores."
)
# A tenant or client id as Entra ID takes it in a URL (mailflow.graph_client checks the same).
_GRAPH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,253}")


class Mailbox(models.Model):
    """A mailbox the app reads replies and bounces from (mailflow.mailbox_polling), with the
    state of its polling. The configuration is edited in the admin; the secret (password,
    OAuth client secret or refresh token) lives in the environment, named here.

    The state is the same for every kind: the cursor fields are the kind's own position
    (IMAP: UIDVALIDITY and the last UID marked; Microsoft Graph: its delta link in
    `cursor`), the rest says how polling goes. Host, port, security and the XOAUTH2
    fields are IMAP's; the tenant id is Graph's; clean() checks each kind's own."""

    class Kind(models.TextChoices):
        IMAP = "imap", "IMAP"
        GRAPH = "graph", "Microsoft 365 (Graph)"

    class Security(models.TextChoices):
        TLS = "tls", "TLS (port 993)"
        STARTTLS = "starttls", "STARTTLS (port 143)"

    class Auth(models.TextChoices):
        PASSWORD = "password", "Password (or app password)"
        XOAUTH2 = "xoauth2", "OAuth2 (XOAUTH2)"

    class Grant(models.TextChoices):
        CLIENT_CREDENTIALS = "client_credentials", "Client credentials (secret in the env)"
        REFRESH_TOKEN = "refresh_token", "Refresh token (token in the env)"

    name = models.CharField(
        max_length=34,
        unique=True,
        help_text="Shown as the source of its emails: IMAP <name> or Graph <name>.",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMAP)
    enabled = models.BooleanField(default=True)
    host = models.CharField(max_length=253, blank=True, help_text="IMAP only.")
    port = models.PositiveIntegerField(default=993, null=True, blank=True, help_text="IMAP only.")
    security = models.CharField(max_length=10, choices=Security.choices, default=Security.TLS)
    username = models.CharField(
        max_length=254,
        help_text="IMAP: the login. Microsoft 365: the mailbox's address (or its user id).",
    )
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.PASSWORD)
    secret_env = models.CharField(
        "secret's environment variable",
        max_length=100,
        validators=[_ENV_NAME],
        help_text="The NAME of the variable holding the password, OAuth client secret or "
        "refresh token, e.g. MAILBOX_REPLIES_PASSWORD. Microsoft 365: the app's client "
        "secret, or its certificate as PEM (the unencrypted private key, then the "
        "certificate).",
    )
    oauth_token_url = models.URLField(
        "OAuth token endpoint", blank=True, help_text="For XOAUTH2: an https:// URL."
    )
    oauth_client_id = models.CharField(
        "OAuth client id",
        max_length=200,
        blank=True,
        help_text="XOAUTH2 and Microsoft 365: the app registration's client (application) id.",
    )
    tenant_id = models.CharField(
        "tenant id",
        max_length=254,
        blank=True,
        help_text="Microsoft 365 only: the directory (tenant) id, or its domain name.",
    )
    oauth_scope = models.CharField(
        "OAuth scope",
        max_length=300,
        blank=True,
        help_text="e.g. https://outlook.office365.com/.default or https://mail.google.com/",
    )
    oauth_grant = models.CharField(
        "OAuth grant", max_length=20, choices=Grant.choices, default=Grant.CLIENT_CREDENTIALS
    )
    folder = models.CharField(
        max_length=200,
        default="INBOX",
        help_text="Microsoft 365: INBOX reads the inbox; otherwise a folder id or a "
        "well-known name.",
    )
    processed_folder = models.CharField(
        max_length=200,
        blank=True,
        help_text="Stored messages are moved here; empty: they stay and are flagged "
        "$SocProcessed (and \\Seen). Microsoft 365: required, a top-level folder by "
        "name, made when missing.",
    )
    poll_interval = models.PositiveIntegerField(
        default=60, help_text="Seconds between polls (the schedule runs every minute)."
    )

    # State, written only by mailflow.mailbox_polling.
    uid_validity = models.BigIntegerField(null=True, blank=True, editable=False)
    last_uid = models.BigIntegerField(default=0, editable=False)
    cursor = models.TextField(blank=True, editable=False)
    last_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    next_poll_at = models.DateTimeField(default=timezone.now, editable=False)
    backlog = models.PositiveIntegerField(
        default=0, editable=False, help_text="Messages seen in the folder, not yet stored."
    )
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.processed_folder and self.processed_folder == self.folder:
            # Moving a message into the folder it is read from would read it for ever.
            errors["processed_folder"] = "The processed folder must differ from the folder read."
        if self.kind == self.Kind.GRAPH:
            errors.update(self._graph_errors())
        else:
            errors.update(self._imap_errors())
        if errors:
            raise ValidationError(errors)

    def _imap_errors(self) -> dict[str, str]:
        errors = {}
        if not self.host:
            errors["host"] = "IMAP needs the server's host name."
        if not self.port:
            errors["port"] = "IMAP needs the server's port (993 for TLS, 143 for STARTTLS)."
        if self.auth == self.Auth.XOAUTH2:
            if not self.oauth_token_url.startswith("https://"):
                errors["oauth_token_url"] = "XOAUTH2 needs the token endpoint's https:// URL."  # noqa: S105
            if not self.oauth_client_id:
                errors["oauth_client_id"] = "XOAUTH2 needs the application's client id."
        return errors

    def _graph_errors(self) -> dict[str, str]:
        errors = {}
        if not _GRAPH_ID.fullmatch(self.tenant_id):
            errors["tenant_id"] = "Microsoft 365 needs the tenant id (a GUID or a domain name)."
        if not _GRAPH_ID.fullmatch(self.oauth_client_id):
            errors["oauth_client_id"] = (
                "Microsoft 365 needs the app registration's client id (a GUID)."
            )
        if not self.processed_folder:
            # Graph has no keyword to flag a message in place: a stored one must move.
            errors["processed_folder"] = "Microsoft 365 needs a folder to move stored messages to."
        return errors

    @property
    def source(self) -> str:
        """The `provider` of the emails read from it (40 characters at most): the name
        the webhooks' store and the Graph reader give it, "IMAP <name>", "Graph <name>"."""
        prefix = "Graph" if self.kind == self.Kind.GRAPH else "IMAP"
        return f"{prefix} {self.name}"
