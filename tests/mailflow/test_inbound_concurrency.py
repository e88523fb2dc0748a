"""The same reply delivered several times at once (provider retries racing), on PostgreSQL."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse

from mailflow.models import Answer, InboundEmail
from tests.builders.inbound import AUTH, raw_reply

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.mark.parametrize("deferred", [False, True], ids=["read in the request", "by the worker"])
@override_settings(ANYMAIL={"WEBHOOK_SECRET": "user:pass"})
def test_the_same_reply_posted_concurrently_is_one_message_and_one_answer(
    asked, deferred, settings
):
    if deferred:  # every post kept as it came and read by the worker, at the same time
        settings.INBOUND_DEFER_BYTES = 0
    request = asked("failed-login")
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def deliver(event_id: str) -> None:
        payload = {
            "FromFull": {"Email": "bob@corp.example.com", "Name": "Bob Builder"},
            "Subject": "Re: Please confirm",
            "MessageID": event_id,  # each retry has a new provider event id
            "Headers": [],
            "RawEmail": raw_reply(request, "No"),
        }
        try:
            barrier.wait()
            response = Client().post(
                reverse("anymail:postmark_inbound_webhook"),
                data=json.dumps(payload),
                content_type="application/json",
                **AUTH,
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(f"event-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 6
    # One message; posts read by the worker are rows of their own, kept as duplicates.
    stored = sorted(InboundEmail.objects.values_list("status", flat=True))
    assert stored == ["answered"] + ["duplicate"] * (5 if deferred else 0)
    assert Answer.objects.filter(request=request).count() == 1
    assert list(request.incident.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of Bob Builder"
    ]
