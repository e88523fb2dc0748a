"""What we acknowledge is on disk before the row naming it commits (core/storage.py): a
power cut after the webhook's 200 or the person's "received" must not leave a row naming
an empty or missing file."""

import base64
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import override_settings
from django.urls import reverse

from bench import payloads
from incidents.models import evidence_storage
from mailflow.models import InboundEmail

SECRET = "user:pass"
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(SECRET.encode()).decode()}


@pytest.fixture
def fsynced(monkeypatch) -> list[tuple[Path, int]]:
    """Every path flushed to disk, with how many inbound rows existed at that moment."""
    flushed: list[tuple[Path, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        flushed.append((Path(os.readlink(f"/proc/self/fd/{fd}")), InboundEmail.objects.count()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return flushed


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_webhook_post_is_flushed_to_disk_before_its_row_is_written(client, fsynced):
    response = client.post(
        reverse("anymail:postmark_inbound_webhook"),
        data=payloads.postmark(payloads.reply_mime()).render(1),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 200
    stored = Path(settings.INBOUND_ROOT, InboundEmail.objects.get().raw.name).resolve()
    assert (stored, 0) in fsynced  # the message, before its row existed
    assert (stored.parent, 0) in fsynced  # and the folder that gained its name


@pytest.mark.django_db
def test_evidence_is_flushed_to_disk_with_its_folder(settings, tmp_path, fsynced):
    settings.EVIDENCE_ROOT = tmp_path

    name = evidence_storage().save("2026/12/screenshot", ContentFile(b"\x89PNG evidence"))

    saved = (tmp_path / name).resolve()
    assert saved.read_bytes() == b"\x89PNG evidence"
    assert [path for path, _ in fsynced] == [saved, saved.parent]
