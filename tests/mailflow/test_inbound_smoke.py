"""The inbound pipeline end to end through Postmark's real webhook URL (JSON with raw email)."""

import json

from django.test import override_settings
from django.urls import reverse

from mailflow.emails import reply_address
from mailflow.models import InboundEmail
from tests.builders.inbound import AUTH, raw_reply


@override_settings(ANYMAIL={"WEBHOOK_SECRET": "user:pass"})
def test_a_reply_through_postmark_answers_the_question(asked, committed, client):
    request = asked("policy-violation")
    payload = {
        "FromFull": {"Email": "bob@corp.example.com", "Name": "Bob Builder"},
        "ToFull": [{"Email": reply_address(request), "Name": ""}],
        "Subject": "Re: Did you download this file?",
        "MessageID": "abc",
        "Headers": [],
        "RawEmail": raw_reply(request, "No"),
    }

    response = committed(
        client.post,
        reverse("anymail:postmark_inbound_webhook"),
        data=json.dumps(payload),
        content_type="application/json",
        **AUTH,
    )

    assert response.status_code == 200
    inbound = InboundEmail.objects.get()
    assert (inbound.status, inbound.correlation) == ("answered", "reply address")
    assert inbound.reply_text == "No"
    assert list(request.incident.tasks.values_list("title", flat=True)) == [
        "Confirm the download with the user",
        "Obtain further information",
    ]
