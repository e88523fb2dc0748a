"""Answers held as a possible mail scanner on the incident page: shown with a one-click
accept for analysts who may move runs; replies from another sender shown labelled, and
accepted only from their email's page."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from incidents import groups
from incidents.models import ResponseTask
from mailflow.emails import reply_address
from mailflow.held_answers import held_answer_escalate
from mailflow.models import Answer, ConfirmationRequest
from tests.builders.answers import an_hour_passes, hold
from tests.builders.inbound import message
from tests.factories import UserFactory

State = ConfirmationRequest.State


# --- on the incident page ---------------------------------------------------------------


def change_page(incident) -> str:
    return reverse("admin:incidents_securityincident_change", args=[incident.pk])


def accept_url(answer: Answer) -> str:
    return reverse("admin:mailflow_held_answer_accept", args=[answer.pk])


def test_the_incident_page_shows_a_held_answer_with_a_one_click_accept(
    asked, committed, client, analyst
):
    request = asked("failed-login")
    held = committed(hold, request)
    client.force_login(analyst)

    page = client.get(change_page(request.incident)).content.decode()

    assert 'id="held-answers"' in page
    assert "“No, that was not me”" in page and "Bob Builder" in page
    assert "Not me, I was on holiday." in page
    assert "headless browser" in page
    assert f'action="{accept_url(held)}"' in page
    assert "Accept as the answer" in page


def test_the_accept_button_accepts_and_a_second_click_says_why_nothing_changed(
    asked, committed, client, analyst
):
    request = asked("failed-login")
    held = committed(hold, request)
    client.force_login(analyst)

    first = committed(client.post, accept_url(held), follow=True)
    second = committed(client.post, accept_url(held), follow=True)

    assert first.redirect_chain[-1][0].startswith(change_page(request.incident))
    assert "Accepted “No, that was not me” as the answer" in first.content.decode()
    assert "already accepted by Alice Analyst" in second.content.decode()
    assert Answer.objects.filter(counted=True, accepted_by=analyst).count() == 1
    request.refresh_from_db()
    assert request.state == State.ANSWERED
    assert 'id="held-answers"' not in second.content.decode()


def test_the_accept_url_changes_nothing_on_get(asked, committed, client, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    client.force_login(analyst)

    assert client.get(accept_url(held)).status_code == 405
    assert not Answer.objects.filter(counted=True).exists()


def test_someone_who_may_not_accept_answers_sees_no_button_and_cannot(asked, committed, client):
    request = asked("failed-login")
    held = committed(hold, request)
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_securityincident", "change_securityincident"]
        )
    )
    client.force_login(reader)

    page = client.get(change_page(request.incident)).content.decode()
    response = committed(client.post, accept_url(held))

    assert 'id="held-answers"' in page and accept_url(held) not in page
    assert response.status_code == 403
    assert not Answer.objects.filter(counted=True).exists()


def test_a_runbook_author_cannot_accept(asked, committed, client):
    request = asked("failed-login")
    held = committed(hold, request)
    author = UserFactory(is_staff=True)
    author.groups.add(Group.objects.get(name=groups.RUNBOOK_AUTHOR))
    client.force_login(author)

    assert committed(client.post, accept_url(held)).status_code == 403


@pytest.mark.usefixtures("webhook_secret")
def test_a_reply_from_another_sender_is_shown_labelled_and_accepted_only_from_its_email(
    asked, deliver, client, analyst
):
    request = asked("failed-login")
    inbound = deliver(message(to=reply_address(request), sender="mallory@example.net", body="No"))
    client.force_login(analyst)

    page = client.get(change_page(request.incident)).content.decode()

    assert 'id="held-answers"' in page
    assert "came from mallory@example.net, not the person asked (bob@corp.example.com)" in page
    email_page = reverse("admin:mailflow_inboundemail_change", args=[inbound.pk])
    assert f'href="{email_page}"' in page
    assert accept_url(inbound.answer) not in page


def test_no_panel_when_nothing_is_held(asked, client, analyst):
    request = asked("failed-login")
    client.force_login(analyst)

    assert 'id="held-answers"' not in client.get(change_page(request.incident)).content.decode()


def test_a_task_for_an_unconfirmed_answer_is_shown_beside_it(asked, committed, client, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    an_hour_passes(held)
    committed(held_answer_escalate, held.pk)
    client.force_login(analyst)

    page = client.get(change_page(request.incident)).content.decode()

    task = ResponseTask.objects.get()
    task_page = reverse("admin:incidents_responsetask_change", args=[task.pk])
    assert f'<a href="{task_page}">{task.number}</a> asks an analyst to confirm it.' in page
