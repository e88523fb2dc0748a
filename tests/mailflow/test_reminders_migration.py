"""The migrations to several reminders: a stored step's one reminder becomes a list (and
back), and an open question's one reminder becomes its planned list, no longer due once
sent."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from mailflow.models import ConfirmationRequest
from runbooks.models import Runbook

BEFORE = [
    ("runbooks", "0005_guards_for_targets_and_away"),
    ("mailflow", "0023_answer_acknowledgement"),
]


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def migrate_to_latest() -> None:
    """Through the reminder migrations (runbooks 0006, mailflow 0024) and every later one."""
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_steps_and_open_questions_keep_their_reminders_across_the_migration(asked):
    request = asked("failed-login")  # reminders after 4 h and 12 h
    step = Runbook.objects.get(name="Failed sign-ins").steps.get(position=2)
    other = Runbook.objects.get(name="Phishing recipients").steps.get(action="ask_user")
    type(other).objects.filter(pk=other.pk).update(
        params={**other.params, "reminders_after_hours": []}
    )
    remind_at = timezone.now() + timedelta(hours=4)

    try:
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute("SELECT params FROM runbooks_runbookstep WHERE id = %s", [step.pk])
            value = cursor.fetchone()[0]  # text on SQLite, decoded on PostgreSQL
            params = json.loads(value) if isinstance(value, str) else value
            assert params["reminder_after_hours"] == 4
            cursor.execute(
                "UPDATE mailflow_confirmationrequest SET remind_at = %s, reminders_sent = 0",
                [remind_at],
            )
    finally:
        migrate_to_latest()

    step.refresh_from_db()
    other.refresh_from_db()
    assert step.params["reminders_after_hours"] == [4]  # one reminder, as stored before
    assert "reminder_after_hours" not in step.params
    assert other.params["reminders_after_hours"] == []
    request = ConfirmationRequest.objects.get(pk=request.pk)
    assert request.reminders_planned == [remind_at.isoformat()]
    assert request.remind_at == remind_at


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_question_whose_one_reminder_went_has_none_due_after_the_migration(asked):
    request = asked("failed-login")
    remind_at = timezone.now() - timedelta(hours=1)

    try:
        migrate(BEFORE)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE mailflow_confirmationrequest SET remind_at = %s, reminders_sent = 1",
                [remind_at],
            )
    finally:
        migrate_to_latest()

    request = ConfirmationRequest.objects.get(pk=request.pk)
    assert (request.reminders_sent, request.remind_at) == (1, None)
    assert request.reminders_planned == [remind_at.isoformat()]
