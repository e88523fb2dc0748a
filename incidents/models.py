"""The case record: the directory, incidents, response tasks, evidence and the timeline.

Models hold data and small derived properties only. Every write goes through
`incidents.services`, which also writes the timeline entry for it.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from core.actors import ActorKind
from core.storage import DurableFileSystemStorage
from incidents.sniffing import PREVIEWABLE_IMAGE_TYPES
from incidents.timeline_kinds import kind_label


class NumberSequence(models.Model):
    """One counter per human number prefix (SIR, SIT), bumped under a row lock."""

    prefix = models.CharField(max_length=8, primary_key=True)
    last_value = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.prefix} {self.last_value}"


# --- Directory --------------------------------------------------------------------------


class Person(models.Model):
    """Someone an incident can affect. End users never log in; they only receive email.
    A group is a shared mailbox (a service desk, a team) a runbook can ask: it is
    addressed without a first name, its name kept in first_name."""

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        GROUP = "group", "Group mailbox"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERSON)
    email = models.EmailField(unique=True, help_text="Stored lower-case; the directory key.")
    first_name = models.CharField(
        max_length=100, help_text="For a group mailbox: the group's name, e.g. Service desk."
    )
    last_name = models.CharField(max_length=100, blank=True)
    department = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=150, blank=True)
    manager = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    language = models.CharField(
        max_length=10, default="en", help_text="Language code for emails, e.g. en, de, fr."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def greeting_name(self) -> str:
        """The name an email greets them by: a group mailbox is greeted without one."""
        return "" if self.kind == self.Kind.GROUP else self.first_name


class ConfigurationItem(models.Model):
    class Kind(models.TextChoices):
        LAPTOP = "laptop", "Laptop"
        DESKTOP = "desktop", "Desktop"
        MOBILE = "mobile", "Mobile device"
        SERVER = "server", "Server"
        NETWORK = "network", "Network device"
        APPLICATION = "application", "Application"
        CLOUD = "cloud", "Cloud resource"
        OTHER = "other", "Other"

    name = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    hostname = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True, verbose_name="IP address")
    owner = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="assets"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "configuration item"

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


# --- Incidents and tasks ----------------------------------------------------------------


class SecurityIncident(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        ANALYSIS = "analysis", "Analysis"
        CONTAIN = "contain", "Contain"
        ERADICATE = "eradicate", "Eradicate"
        RECOVER = "recover", "Recover"
        REVIEW = "review", "Review"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    class Priority(models.IntegerChoices):
        CRITICAL = 1, "1 - Critical"
        HIGH = 2, "2 - High"
        MODERATE = 3, "3 - Moderate"
        LOW = 4, "4 - Low"

    number = models.CharField(max_length=16, unique=True, editable=False)
    short_description = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="incidents")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.LOW)
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    affected_user = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    affected_ci = models.ForeignKey(
        ConfigurationItem,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
        verbose_name="affected CI",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_incidents",
    )
    assignment_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_reference = models.CharField(
        max_length=200,
        blank=True,
        help_text="The detecting tool's alert id; a second alert with the same id is the "
        "same incident.",
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="What happened, in fields a detection tool set (incidents.details).",
    )
    opened_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "security incident"
        constraints = [
            # SIEM retries must not open a second incident for the same alert.
            models.UniqueConstraint(
                fields=["external_reference"],
                condition=~Q(external_reference=""),
                name="incident_external_reference_unique",
            )
        ]
        indexes = [
            # The default changelist order and its "opened" date filter.
            models.Index(fields=["-opened_at", "-id"], name="incident_opened_idx"),
            models.Index(fields=["state"], name="incident_state_idx"),
            # A search word matches the alert id whatever its case (the admin's search).
            models.Index(Upper("external_reference"), name="incident_ext_ref_upper_idx"),
            # On PostgreSQL, the descriptions also have trigram indexes for the search's
            # free words (migration 0009, which SQLite cannot have).
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.short_description}"

    @property
    def is_active(self) -> bool:
        return self.state not in (self.State.CLOSED, self.State.CANCELLED)


class ResponseTask(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        AWAITING_USER = "awaiting_user", "Awaiting user"
        COMPLETED = "completed", "Completed"
        INCOMPLETE = "incomplete", "Incomplete"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=16, unique=True, editable=False)
    incident = models.ForeignKey(SecurityIncident, on_delete=models.PROTECT, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tasks",
    )
    due_at = models.DateTimeField(null=True, blank=True, verbose_name="due")
    # Set on tasks a service keeps one of per incident while open (e.g. emails to verify):
    # later occurrences join the open task instead of each making a new one.
    topic = models.CharField(max_length=40, blank=True, editable=False)
    created_by_kind = models.CharField(
        max_length=20, choices=ActorKind.choices, editable=False, verbose_name="created by"
    )
    created_by_name = models.CharField(max_length=200, blank=True, editable=False)
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "response task"
        indexes = [
            models.Index(fields=["state"], name="task_state_idx"),
            # The task list, newest first: without it each page sorts every task.
            models.Index(fields=["created_at", "id"], name="task_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "topic"],
                condition=~Q(topic="") & Q(state__in=["open", "in_progress", "awaiting_user"]),
                name="one_open_task_per_topic",
            )
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.OPEN, self.State.IN_PROGRESS, self.State.AWAITING_USER)


# --- Evidence ---------------------------------------------------------------------------


def evidence_storage() -> DurableFileSystemStorage:
    # No base_url: evidence has no public URL; only the staff download view reads it.
    return DurableFileSystemStorage(location=settings.EVIDENCE_ROOT, base_url=None)


def evidence_upload_path(instance: "Evidence", filename: str) -> str:
    # The sender's filename never reaches the disk: a random name without extension means
    # no path tricks, no executable suffix, and nothing a web server would render.
    return f"{timezone.now():%Y/%m}/{secrets.token_hex(16)}"


class Evidence(models.Model):
    class Source(models.TextChoices):
        ANALYST_UPLOAD = "analyst_upload", "Analyst upload"
        ANSWER_PAGE = "answer_page", "Answer page"
        EMAIL_REPLY = "email_reply", "Email reply"

    incident = models.ForeignKey(
        SecurityIncident, on_delete=models.PROTECT, related_name="evidence"
    )
    task = models.ForeignKey(
        ResponseTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="evidence"
    )
    file = models.FileField(storage=evidence_storage, upload_to=evidence_upload_path)
    filename = models.CharField(max_length=255, help_text="Sanitised for display.")
    declared_content_type = models.CharField(max_length=255, blank=True)
    detected_content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    provenance = models.JSONField(default=dict, blank=True)
    # Dangerous types are kept, never refused: evidence is evidence. Quarantined files are
    # never previewed and download under a name that does not open on a double click.
    quarantine_reason = models.CharField(max_length=200, blank=True)
    added_at = models.DateTimeField(default=timezone.now, editable=False)
    added_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["added_at", "id"]
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return self.filename

    @property
    def quarantined(self) -> bool:
        return bool(self.quarantine_reason)

    @property
    def previewable(self) -> bool:
        return not self.quarantined and self.detected_content_type in PREVIEWABLE_IMAGE_TYPES

    @property
    def download_filename(self) -> str:
        return f"{self.filename}.quarantined" if self.quarantined else self.filename


# --- Timeline ---------------------------------------------------------------------------


class TimelineEntry(models.Model):
    """One thing that happened to an incident. Append-only: services create, nothing edits.

    It doubles as the event log: after commit, each entry is handed to the subscribers in
    settings.TIMELINE_SUBSCRIBERS, and `dispatched_at` records when every subscriber had
    run (`dispatch_attempts` counts the deliveries).
    """

    incident = models.ForeignKey(
        SecurityIncident, on_delete=models.PROTECT, related_name="timeline"
    )
    task = models.ForeignKey(
        ResponseTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="timeline"
    )
    evidence = models.ForeignKey(
        Evidence, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    kind = models.CharField(max_length=64, help_text="Namespaced, e.g. incident.opened.")
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_name = models.CharField(max_length=200, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True, editable=False)
    dispatch_attempts = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [
            # The incident page reads one incident's entries in order.
            models.Index(fields=["incident", "created_at", "id"], name="timeline_incident_idx"),
            # The timeline entry list across all incidents, newest first: without it each
            # page sorts the whole table, which grows with every entry.
            models.Index(fields=["created_at", "id"], name="timeline_created_idx"),
            # The sweeper looks for entries whose dispatch a crash interrupted.
            models.Index(
                fields=["created_at"],
                condition=Q(dispatched_at__isnull=True),
                name="timeline_undispatched_idx",
            ),
            # /metrics counts the runbooks' failures among all entries at every scrape. The
            # kind is runbooks.timeline_kinds.RUNBOOK_FAILED, spelt out since this layer
            # cannot import it (tests/metrics checks they agree).
            models.Index(
                fields=["id"],
                condition=Q(kind="runbook.failed"),
                name="timeline_runbook_failed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind_label}: {self.summary}"

    @property
    def kind_label(self) -> str:
        return kind_label(self.kind)
