"""The "Mailboxes" admin page: each mailbox's polling status, the secret shown only by
its environment variable's name, "Poll now", and the source of each inbound email."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailflow.inbound import inbound_store_raw
from mailflow.models import InboundEmail, Mailbox
from tests.builders.inbound import message

pytestmark = [pytest.mark.django_db]


def failing_mailbox(**changes) -> Mailbox:
    fields = {
        "name": "replies",
        "host": "imap.example.com",
        "username": "replies@corp.example.com",
        "secret_env": "TEST_MAILBOX_SECRET",
        "last_error": "The server refused the login of the configured user.",
        "consecutive_failures": 3,
        "backlog": 7,
        "next_poll_at": timezone.now() + timedelta(minutes=8),
        **changes,
    }
    return Mailbox.objects.create(**fields)


def test_the_list_shows_each_mailbox_status(admin_client):
    failing_mailbox()

    page = admin_client.get(reverse("admin:mailflow_mailbox_changelist")).content.decode()

    assert "replies" in page
    assert "The server refused the login of the configured user." in page
    assert ">7<" in page  # the backlog


def test_the_secret_is_shown_by_its_variable_name_and_whether_it_is_set(admin_client, monkeypatch):
    monkeypatch.setenv("TEST_MAILBOX_SECRET", "hunter2-do-not-show")
    mailbox = failing_mailbox()
    url = reverse("admin:mailflow_mailbox_change", args=[mailbox.pk])

    page = admin_client.get(url).content.decode()
    monkeypatch.delenv("TEST_MAILBOX_SECRET")
    unset = admin_client.get(url).content.decode()

    assert "<code>TEST_MAILBOX_SECRET</code>: set" in page
    assert "hunter2-do-not-show" not in page
    assert "<code>TEST_MAILBOX_SECRET</code>: NOT SET" in unset


def test_poll_now_makes_the_mailbox_due_and_polls_it(admin_client, committed, monkeypatch):
    monkeypatch.setenv("TEST_MAILBOX_SECRET", "secret")
    mailbox = failing_mailbox(host="127.0.0.1", port=1)  # nothing listens there

    response = committed(
        admin_client.post,
        reverse("admin:mailflow_mailbox_changelist"),
        {"action": "poll_now", "_selected_action": [mailbox.pk]},
        follow=True,
    )

    assert "1 mailbox(es) queued for a poll." in response.content.decode()
    mailbox.refresh_from_db()
    # Polled at once despite its backoff: port 1 refuses, so a fourth failure is counted.
    assert mailbox.last_poll_at and mailbox.consecutive_failures == 4
    assert "refused the connection" in mailbox.last_error


def test_saving_a_fixed_configuration_makes_the_mailbox_due_at_once(admin_client):
    mailbox = failing_mailbox()
    url = reverse("admin:mailflow_mailbox_change", args=[mailbox.pk])
    form = {
        "name": "replies",
        "kind": "imap",
        "enabled": "on",
        "folder": "INBOX",
        "processed_folder": "",
        "poll_interval": "60",
        "host": "imap.example.com",
        "port": "993",
        "security": "tls",
        "username": "replies@corp.example.com",
        "auth": "password",
        "secret_env": "OTHER_SECRET",
        "oauth_grant": "client_credentials",
    }

    response = admin_client.post(url, form)

    assert response.status_code == 302
    mailbox.refresh_from_db()
    assert mailbox.secret_env == "OTHER_SECRET"
    assert mailbox.next_poll_at <= timezone.now()
    assert mailbox.consecutive_failures == 3  # the state is the polls' alone


def test_a_mailbox_is_added_only_with_what_its_login_and_folders_need(admin_client):
    form = {
        "name": "m365",
        "kind": "imap",
        "enabled": "on",
        "folder": "INBOX",
        "processed_folder": "INBOX",
        "poll_interval": "60",
        "host": "outlook.office365.com",
        "port": "993",
        "security": "tls",
        "username": "replies@corp.example.com",
        "auth": "xoauth2",
        "secret_env": "M365_CLIENT_SECRET",
        "oauth_grant": "client_credentials",
    }
    url = reverse("admin:mailflow_mailbox_add")

    refused = admin_client.post(url, form).content.decode()
    assert "XOAUTH2 needs the token endpoint" in refused
    assert "XOAUTH2 needs the application" in refused
    assert "The processed folder must differ from the folder read." in refused
    assert not Mailbox.objects.exists()

    added = admin_client.post(
        url,
        {
            **form,
            "processed_folder": "Processed",
            "oauth_token_url": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "oauth_client_id": "client-1",
            "oauth_scope": "https://outlook.office365.com/.default",
        },
    )

    assert added.status_code == 302
    mailbox = Mailbox.objects.get()
    assert (mailbox.source, mailbox.auth, mailbox.secret_env) == (
        "IMAP m365",
        "xoauth2",
        "M365_CLIENT_SECRET",
    )
    assert mailbox.next_poll_at <= timezone.now() and mailbox.last_uid == 0


def test_inbound_emails_show_their_source(admin_client, committed):
    committed(
        inbound_store_raw,
        source="IMAP replies",
        raw=message(to="someone@reply.localhost").encode(),
    )

    page = admin_client.get(reverse("admin:mailflow_inboundemail_changelist")).content.decode()

    assert "Source" in page and "IMAP replies" in page
    assert InboundEmail.objects.get().provider == "IMAP replies"


def test_an_analyst_reads_the_mailboxes_status_but_cannot_change_or_poll_them(client, analyst):
    mailbox = failing_mailbox()
    client.force_login(analyst)

    listing = client.get(reverse("admin:mailflow_mailbox_changelist"))
    change = client.post(
        reverse("admin:mailflow_mailbox_change", args=[mailbox.pk]), {"name": "renamed"}
    )
    client.post(
        reverse("admin:mailflow_mailbox_changelist"),
        {"action": "poll_now", "_selected_action": [mailbox.pk]},
    )

    assert "The server refused the login of the configured user." in listing.content.decode()
    assert change.status_code == 403
    mailbox.refresh_from_db()
    assert mailbox.name == "replies" and mailbox.next_poll_at > timezone.now()
