"""Found by bench/drill_database_outage.py: the database (or Redis) failing after the
message committed but before its processing was enqueued."""

import base64
import json
from datetime import timedelta
from pathlib import Path
from unittest.mock import Mock

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import override_settings
from django.urls import reverse

from bench import payloads
from core import enqueue
from mailflow.inbound.retry import inbound_sweep
from mailflow.models import InboundEmail

SECRET = "user:pass"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}

# on_commit hooks must run for real, after a real commit.
# serialized_rollback: the seeded data (categories, groups) comes back for the tests after.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_failed_enqueue_after_commit_keeps_the_message_for_the_sweeper(client, monkeypatch):
    body = payloads.postmark(payloads.reply_mime()).render(1)
    monkeypatch.setattr(enqueue, "async_task", Mock(side_effect=OperationalError("down")))

    response = client.post(
        reverse("anymail:postmark_inbound_webhook"),
        data=body,
        content_type="application/json",
        **AUTH,
    )

    # Stored and committed: acknowledged, with its raw file, and left "received" for the
    # sweeper rather than answered 503 with the file deleted under a committed row.
    assert response.status_code == 200
    stored = InboundEmail.objects.get()
    assert stored.status == InboundEmail.Status.RECEIVED
    assert Path(settings.INBOUND_ROOT, stored.raw.name).is_file()
    monkeypatch.undo()

    inbound_sweep(stuck_after=timedelta(0))

    stored.refresh_from_db()
    assert stored.status != InboundEmail.Status.RECEIVED
    assert stored.attempts == 1
    assert json.loads(body)["MessageID"] in stored.provider_event_id


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_on_the_orm_broker_a_failed_enqueue_is_a_503_and_keeps_nothing(
    client, monkeypatch, orm_broker
):
    # There the task is a row written in the message's own transaction (core/enqueue.py):
    # failing, it takes the message with it, and the provider posts it again.
    files_before = {path for path in Path(settings.INBOUND_ROOT).rglob("*") if path.is_file()}
    monkeypatch.setattr(enqueue, "async_task", Mock(side_effect=OperationalError("down")))

    response = client.post(
        reverse("anymail:postmark_inbound_webhook"),
        data=payloads.postmark(payloads.reply_mime()).render(1),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 503
    assert not InboundEmail.objects.exists()
    files_after = {path for path in Path(settings.INBOUND_ROOT).rglob("*") if path.is_file()}
    assert files_after == files_before
