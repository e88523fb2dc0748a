"""Runbook definitions, their runs and the record of each executed step.

A runbook is a flat, ordered list of steps; each step has a guard deciding whether it runs
once the run reaches it (like `if:` in a CI pipeline), so branches read top to bottom.
A run copies the definition when it starts (`definition`), so editing the runbook never
disturbs runs in progress.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from incidents import timeline_kinds
from incidents.models import Category, Person, SecurityIncident, TimelineEntry
from runbooks.actions import ACTIONS
from runbooks.translations import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES


class Trigger(models.TextChoices):
    # Values are timeline entry kinds: a trigger matches the entry that announces the event,
    # so "incident state changed" or "task completed" later are one more choice each.
    # Labels come from the kinds' registry; a system check (soc.checks) keeps every value
    # but MANUAL a registered kind.
    INCIDENT_OPENED = (
        timeline_kinds.INCIDENT_OPENED,
        timeline_kinds.kind_label(timeline_kinds.INCIDENT_OPENED),
    )
    # Never matches a timeline entry: an analyst starts it for the people to ask (a
    # phishing email that reached many, say), one run per person.
    MANUAL = "manual", "Started by an analyst for the people to ask"


class Guard(models.TextChoices):
    ALWAYS = "always", "Always"
    ANSWER_IN = "answer_in", "Answer is one of …"
    ANSWER_NOT_IN = "answer_not_in", "Anything but …"
    ANSWERED = "answered", "Answered (any option)"
    UNRECOGNISED = "unrecognised", "Answer unrecognised"
    NO_ANSWER = "no_answer", "No answer by the deadline"
    UNDELIVERABLE = "undeliverable", "Email undeliverable"
    NO_TARGET = "no_target", "Nobody to ask (e.g. no manager)"
    OUT_OF_OFFICE = "out_of_office", "Away for longer than the step waits"


class Runbook(models.Model):
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    trigger = models.CharField(
        max_length=40, choices=Trigger.choices, default=Trigger.INCIDENT_OPENED
    )
    categories = models.ManyToManyField(
        Category,
        blank=True,
        related_name="runbooks",
        help_text="Runs only for incidents in these categories; none means any category.",
    )
    min_priority = models.PositiveSmallIntegerField(
        choices=SecurityIncident.Priority.choices,
        null=True,
        blank=True,
        verbose_name="minimum priority",
        help_text="Runs only for incidents at least this urgent; empty means any priority.",
    )
    language = models.CharField(
        max_length=5,
        choices=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        default=DEFAULT_LANGUAGE,
        verbose_name="default language",
        help_text="Texts written in several languages fall back to this one when the person's "
        "language has none; tasks are written in it.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RunbookStep(models.Model):
    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    action = models.CharField(max_length=40)
    guard = models.CharField(max_length=20, choices=Guard.choices, default=Guard.ALWAYS)
    guard_outcomes = models.JSONField(
        default=list,
        blank=True,
        help_text="For 'answer is one of' and 'anything but': option keys, or unrecognised, "
        "no_answer, undeliverable.",
    )
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["runbook", "position"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        spec = ACTIONS.get(self.action)
        return f"{self.position}. {spec.label if spec else self.action}"


class RunbookRun(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting for an answer"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    runbook = models.ForeignKey(Runbook, on_delete=models.PROTECT, related_name="runs")
    version = models.PositiveIntegerField()
    definition = models.JSONField(help_text="The runbook's steps as they were at the start.")
    incident = models.ForeignKey(
        SecurityIncident, on_delete=models.PROTECT, related_name="runbook_runs"
    )
    trigger_entry = models.ForeignKey(
        TimelineEntry, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        help_text="Whom the run asks; empty: the incident's affected user.",
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    position = models.PositiveIntegerField(default=0, help_text="Index of the next step.")
    context = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Failures of this step.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # The same event never starts the same runbook twice for an incident.
            models.UniqueConstraint(
                fields=["runbook", "incident", "trigger_entry"], name="run_once_per_event"
            ),
            # Asking people again (a retried or extended request) never asks anyone twice.
            models.UniqueConstraint(
                fields=["runbook", "incident", "person"],
                condition=Q(person__isnull=False),
                name="run_once_per_person",
            ),
        ]
        indexes = [
            # The sweeper's query for runs a crashed worker left behind.
            models.Index(
                fields=["updated_at"],
                condition=Q(state="running"),
                name="run_running_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.runbook.name} v{self.version} on {self.incident.number}"

    @property
    def asked_person(self) -> Person | None:
        return self.person or self.incident.affected_user

    @property
    def steps(self) -> list[dict]:
        return self.definition["steps"]


class StepResult(models.Model):
    class Status(models.TextChoices):
        DONE = "done", "Done"
        SKIPPED = "skipped", "Skipped (guard)"
        WAITING = "waiting", "Waiting"

    run = models.ForeignKey(RunbookRun, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveIntegerField()
    action = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=Status.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            # Re-running a step is a no-op: its result already exists.
            models.UniqueConstraint(fields=["run", "position"], name="step_result_unique")
        ]

    def __str__(self) -> str:
        return f"Step {self.position + 1}: {self.get_status_display()}"
