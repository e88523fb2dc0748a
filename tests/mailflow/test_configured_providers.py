"""A provider that is not configured answers 404 on its webhook URLs, GET or POST, without
an ERROR in the log; a configured one works as before."""

import logging

import pytest
from django.test import override_settings

from mailflow.models import InboundEmail, TrackingEvent
from tests.builders.tracking import (
    MAILGUN_URL,
    SECRET,
    SIGNING_KEY,
    basic_auth,
    kinds,
    mailgun_delivered,
    post,
)

MAILGUN_URLS = ["/anymail/mailgun/inbound/", "/anymail/mailgun/inbound_mime/", MAILGUN_URL]
SIGNED_FORM = {"token": "t" * 50, "timestamp": "1741083330", "signature": "0" * 64}


def errors(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("url", MAILGUN_URLS)
@pytest.mark.parametrize("method", ["get", "post"])
@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})  # and no Mailgun signing key
def test_it_answers_404_without_an_error_log_for_mailgun_when_it_is_not_configured(
    client, db, caplog, url, method
):
    caplog.set_level(logging.INFO)

    response = getattr(client, method)(url, SIGNED_FORM, **basic_auth())

    assert response.status_code == 404
    assert errors(caplog) == []
    assert not InboundEmail.objects.exists()
    assert not TrackingEvent.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["/anymail/postmark/inbound/", "/anymail/sendgrid/tracking/", "/anymail/amazon_ses/inbound/"],
)
@override_settings(ANYMAIL={})
@pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
def test_it_answers_404_for_a_provider_whose_only_protection_the_missing_secret_is(
    client, db, caplog, url
):
    # Only possible with DEBUG on (soc.E003 requires the secret otherwise): such a URL
    # would take anybody's post.
    response = client.post(url, "{}", content_type="application/json")

    assert response.status_code == 404
    assert errors(caplog) == []
    assert not InboundEmail.objects.exists()


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_it_answers_404_for_mandrill_without_its_webhook_key(client, db, caplog):
    # anymail builds Mandrill's view without the key and only fails on the POST.
    response = client.post("/anymail/mandrill/", {"mandrill_events": "[]"}, **basic_auth())

    assert response.status_code == 404
    assert errors(caplog) == []


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY})
def test_a_configured_mailgun_keeps_working(asked, client, committed, caplog):
    request = asked("failed-login")

    delivered = post(client, committed, MAILGUN_URL, mailgun_delivered(request))
    probe = client.get(MAILGUN_URL, **basic_auth())

    assert delivered.status_code == 200
    assert kinds(request).count("request.delivered") == 1
    assert TrackingEvent.objects.get().provider == "Mailgun"
    assert probe.status_code == 405  # anymail's own answer to a GET on a live URL
    assert errors(caplog) == []
    # anymail's signature check, as before (Django logs the refused post as suspicious).
    unsigned = client.post("/anymail/mailgun/inbound/", {"recipient": "x"}, **basic_auth())
    assert unsigned.status_code == 400


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_configured_postmark_keeps_refusing_a_post_without_the_secret(client, db):
    response = client.post("/anymail/postmark/inbound/", "{}", content_type="application/json")

    assert response.status_code == 400
    assert not InboundEmail.objects.exists()
