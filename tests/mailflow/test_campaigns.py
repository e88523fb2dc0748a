"""Asking everyone a phishing email reached: one run per person, each emailed once and
branching on its own answer; emails handed to the backend in batches."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from incidents.services import incident_transition
from mailflow import sending as mail_sending
from mailflow.answers import answer_record
from mailflow.due_requests import requests_process_due
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import RunbookRun
from runbooks.starting import runs_start_for_people
from tests.factories import PersonFactory, UserFactory, category, open_incident


@pytest.fixture
def phishing(committed):
    return committed(
        open_incident,
        category=category("phishing"),
        short_description="Invoice overdue email with a credential-harvesting link",
    )


@pytest.fixture
def recipients(db):
    return [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(5)]


def ask(committed, shipped, incident, people):
    return committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )


def test_each_person_gets_their_own_run_and_one_email(
    shipped, committed, phishing, recipients, outbox, monkeypatch
):
    monkeypatch.setattr(mail_sending, "SEND_CHUNK", 2)
    run_ids = ask(committed, shipped, phishing, recipients)

    assert len(run_ids) == 5
    assert sorted(m.to[0] for m in outbox) == sorted(p.email for p in recipients)
    requests = ConfirmationRequest.objects.filter(incident=phishing)
    assert {r.person_id for r in requests} == {p.pk for p in recipients}
    assert set(requests.values_list("state", flat=True)) == {"sent"}
    assert set(RunbookRun.objects.values_list("state", flat=True)) == {"waiting"}
    (started,) = phishing.timeline.filter(kind="runbook.started")
    assert started.summary == "Runbook 'Phishing recipients' (version 1) started for 5 people"
    # Marked sent a chunk at a time, one timeline entry per chunk: 2 + 2 + 1.
    sent = list(phishing.timeline.filter(kind="request.sent").order_by("pk"))
    assert [e.summary.split(":")[0] for e in sent] == [
        "Emails sent to 2 people",
        "Emails sent to 2 people",
        f"Email sent to {requests.order_by('pk').last().person.full_name}",
    ]
    assert sent[0].data["requests"] + sent[1].data["requests"] + [sent[2].data["request"]] == [
        r.pk for r in requests.order_by("pk")
    ]
    assert sent[0].body.splitlines() == [r.person.full_name for r in requests.order_by("pk")[:2]]
    # The automatic trigger never starts a manual runbook on its own.
    assert not RunbookRun.objects.filter(person__isnull=True).exists()


def test_asking_again_asks_only_the_people_not_yet_asked(
    shipped, committed, phishing, recipients, outbox
):
    ask(committed, shipped, phishing, recipients[:3])
    more = ask(committed, shipped, phishing, recipients)

    assert len(more) == 2
    assert len(outbox) == 5
    assert ask(committed, shipped, phishing, recipients) == []
    assert phishing.timeline.filter(kind="runbook.started").count() == 2


def test_each_answer_branches_only_that_persons_run(shipped, committed, phishing, recipients):
    ask(committed, shipped, phishing, recipients)
    clicked, careful = (
        ConfirmationRequest.objects.get(person=recipients[0]),
        ConfirmationRequest.objects.get(person=recipients[1]),
    )

    committed(answer_record, request=clicked, option_key="yes", channel=Answer.Channel.PAGE)
    committed(answer_record, request=careful, option_key="no", channel=Answer.Channel.PAGE)

    assert list(phishing.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of P0 Person and check their device"
    ]
    states = dict(RunbookRun.objects.values_list("person_id", "state"))
    assert states[recipients[0].pk] == states[recipients[1].pk] == "completed"
    assert [states[p.pk] for p in recipients[2:]] == ["waiting"] * 3


def test_emails_a_crashed_batch_did_not_send_are_sent_by_the_schedule(
    shipped, committed, phishing, recipients, outbox, monkeypatch
):
    monkeypatch.setattr(mail_sending, "requests_send_batch", lambda ids: None)  # worker died
    ask(committed, shipped, phishing, recipients)
    assert outbox == []
    monkeypatch.undo()

    committed(requests_process_due)  # too early: a send may still be on its way
    assert outbox == []
    ConfirmationRequest.objects.update(created_at=timezone.now() - timedelta(minutes=6))
    committed(requests_process_due)

    assert len(outbox) == 5
    assert set(ConfirmationRequest.objects.values_list("state", flat=True)) == {"sent"}
    committed(requests_process_due)
    assert len(outbox) == 5


def test_a_batch_sends_each_request_once_and_leaves_those_another_worker_holds(
    shipped, committed, phishing, recipients, outbox, monkeypatch
):
    monkeypatch.setattr(mail_sending, "requests_send_batch", lambda ids: None)
    ask(committed, shipped, phishing, recipients)
    monkeypatch.undo()
    requests = list(ConfirmationRequest.objects.order_by("pk"))
    held = requests[0]
    ConfirmationRequest.objects.filter(pk=held.pk).update(
        send_lease_until=timezone.now() + timedelta(minutes=1)
    )

    ids = [r.pk for r in requests]
    committed(mail_sending.requests_send_batch, ids)
    committed(mail_sending.requests_send_batch, ids)  # delivered twice

    assert sorted(m.to[0] for m in outbox) == sorted(r.recipient_email for r in requests[1:])
    held.refresh_from_db()
    assert held.state == "pending"
    (sent,) = phishing.timeline.filter(kind="request.sent")
    assert sent.summary.startswith("Emails sent to 4 people: ")
    assert sent.data["requests"] == [r.pk for r in requests[1:]]


def test_people_cannot_be_asked_on_a_closed_incident_or_by_an_inactive_runbook(
    shipped, committed, phishing, recipients
):
    runbook = shipped["Phishing recipients"]
    runbook.active = False
    runbook.save()
    with pytest.raises(DomainError, match="not active"):
        ask(committed, shipped, phishing, recipients)
    runbook.active = True
    runbook.save()
    committed(
        incident_transition, actor=Actor.system(), incident=phishing, to_state="closed",
        reason="False positive",
    )  # fmt: skip
    with pytest.raises(DomainError, match="Closed"):
        ask(committed, shipped, phishing, recipients)
    assert not RunbookRun.objects.exists()


# --- the admin page ---------------------------------------------------------------------


def ask_people_url(incident) -> str:
    return reverse("incident_ask_people", args=[incident.pk])


def digest_in(page: str) -> str:
    """The checked list's digest, which the page's confirm button posts back."""
    found = re.search(r'name="checked" value="([0-9a-f]+)"', page)
    assert found, page
    return found[1]


def check_then_confirm(client, committed, incident, data: dict):
    """Post the list as the page's first button does, then confirm as its second does."""
    url = ask_people_url(incident)
    checked = client.post(url, data)
    assert not RunbookRun.objects.exists()  # nobody is asked before the confirmation
    digest = digest_in(checked.content.decode())
    confirmed = committed(client.post, url, {**data, "checked": digest}, follow=True)
    return checked.content.decode(), confirmed.content.decode()


def test_an_analyst_asks_a_pasted_list_from_the_incident_page(
    shipped, committed, phishing, recipients, client, analyst, outbox
):
    client.force_login(analyst)
    incident_page = client.get(
        reverse("admin:incidents_securityincident_change", args=[phishing.pk])
    )
    assert ask_people_url(phishing) in incident_page.content.decode()
    pasted = "; ".join(p.email.upper() for p in recipients[:3]) + "\n" + recipients[0].email

    checked, confirmed = check_then_confirm(
        client, committed, phishing,
        {"runbook": shipped["Phishing recipients"].pk, "addresses": pasted},
    )  # fmt: skip

    assert "3 addresses found, 1 duplicate ignored." in checked
    assert 'value="Ask 3 people"' in checked
    assert "Asking 3 people with &#x27;Phishing recipients&#x27;." in confirmed
    assert len(outbox) == 3
    (started,) = phishing.timeline.filter(kind="runbook.started")
    assert started.actor_user == analyst


def test_a_list_as_a_mail_client_writes_it_asks_everyone_on_it(
    shipped, committed, phishing, recipients, client, analyst
):
    client.force_login(analyst)
    jane, bob = recipients[:2]
    pasted = (
        f'"{jane.last_name}, {jane.first_name}" <{jane.email}>; '
        f"{bob.first_name} {bob.last_name} <{bob.email}>,\n"
        "-- \nSent from my phone\n"
    )

    checked, _ = check_then_confirm(
        client, committed, phishing,
        {"runbook": shipped["Phishing recipients"].pk, "addresses": pasted},
    )  # fmt: skip

    assert "2 addresses found." in checked
    assert re.search(r"<td>3</td>\s*<td><code>Sent from my phone</code></td>", checked)
    requests = ConfirmationRequest.objects.filter(incident=phishing)
    assert {r.person_id for r in requests} == {jane.pk, bob.pk}
    assert phishing.timeline.get(kind="runbook.started").summary == (
        "Runbook 'Phishing recipients' (version 1) started for 2 people"
    )


def message_trace(sender: str, recipients: list[str]) -> str:
    """As Exchange Online's Get-MessageTrace exports it, one row per recipient."""
    rows = [
        f'"12/1/2026 9:00:0{n} AM","{sender}","{address}","Invoice overdue","Delivered",'
        f'"","203.0.113.9","2048","<m1@phish.example>","3f2{n}"'
        for n, address in enumerate(recipients)
    ]
    header = (
        '"Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP",'
        '"Size","MessageId","MessageTraceId"'
    )
    return "\n".join([header, *rows]) + "\n"


@pytest.mark.parametrize("sender_in_directory", [False, True], ids=["outsider", "colleague"])
def test_a_message_trace_asks_its_recipients_and_never_the_sender(
    shipped, committed, phishing, recipients, client, analyst, outbox, sender_in_directory
):
    # The sender also sent themselves a copy. A colleague's hijacked account is not asked
    # either: the question would go to whoever holds it now.
    sender = "billing@phish.example"
    if sender_in_directory:
        sender = PersonFactory(email="hijacked@corp.example.com").email
    pasted = message_trace(sender, [p.email for p in recipients[:3]] + [sender, ""])
    client.force_login(analyst)

    checked, confirmed = check_then_confirm(
        client,
        committed,
        phishing,
        {"runbook": shipped["Phishing recipients"].pk, "addresses": pasted},
    )

    assert "4 addresses found in the column “RecipientAddress”." in checked
    assert f"{sender}: the sender, not asked." in checked
    assert "no address in column &#x27;RecipientAddress&#x27;" in checked
    assert (
        f"Asking 3 people with &#x27;Phishing recipients&#x27;; not asked, the sender: {sender}."
        in confirmed
    )
    assert sorted(m.to[0] for m in outbox) == sorted(p.email for p in recipients[:3])
    asked = ConfirmationRequest.objects.filter(incident=phishing)
    assert sorted(r.recipient_email for r in asked) == sorted(p.email for p in recipients[:3])


def test_a_sender_named_by_the_analyst_is_not_asked(
    shipped, committed, phishing, recipients, client, analyst
):
    client.force_login(analyst)
    pasted = "\n".join(p.email for p in recipients[:3])

    check_then_confirm(
        client, committed, phishing,
        {"runbook": shipped["Phishing recipients"].pk, "addresses": pasted,
         "sender": recipients[0].email.upper()},
    )  # fmt: skip

    asked = ConfirmationRequest.objects.filter(incident=phishing)
    assert {r.person_id for r in asked} == {recipients[1].pk, recipients[2].pk}


def test_a_list_edited_after_the_check_is_checked_again_before_anyone_is_asked(
    shipped, phishing, recipients, client, analyst, outbox
):
    client.force_login(analyst)
    data = {"runbook": shipped["Phishing recipients"].pk, "addresses": recipients[0].email}
    first = client.post(ask_people_url(phishing), data).content.decode()
    digest = digest_in(first)

    edited = {**data, "addresses": f"{recipients[0].email}\n{recipients[1].email}"}
    again = client.post(ask_people_url(phishing), {**edited, "checked": digest})

    assert "2 addresses found." in again.content.decode()
    assert not RunbookRun.objects.exists() and outbox == []


def test_the_only_matching_runbook_is_preselected(shipped, phishing, client, analyst):
    client.force_login(analyst)

    page = client.get(ask_people_url(phishing)).content.decode()

    runbook = shipped["Phishing recipients"]
    assert f'<option value="{runbook.pk}" selected>Phishing recipients</option>' in page


def test_the_page_stays_under_incidents_in_the_admin_menu(shipped, phishing, client, analyst):
    client.force_login(analyst)

    page = client.get(ask_people_url(phishing)).content.decode()

    current = re.findall(r'<tr class="model-(\w+) current-model">', page)
    assert current == ["securityincident"]
    assert 'class="breadcrumbs"' in page and "Security incidents</a>" in page


def test_unknown_addresses_ask_nobody_and_are_named(
    shipped, committed, phishing, recipients, client, analyst, outbox
):
    client.force_login(analyst)
    pasted = f"{recipients[0].email}, Stranger <stranger@elsewhere.example>"

    response = committed(
        client.post, ask_people_url(phishing),
        {"runbook": shipped["Phishing recipients"].pk, "addresses": pasted},
    )  # fmt: skip

    assert response.status_code == 200
    page = response.content.decode()
    assert "1 address(es) are not in the directory: stranger@elsewhere.example" in page
    assert 'name="checked"' not in page
    assert not RunbookRun.objects.exists() and outbox == []


def test_a_runbook_whose_conditions_the_incident_does_not_meet_is_not_offered(
    shipped, phishing, client, analyst
):
    client.force_login(analyst)

    page = client.get(ask_people_url(phishing)).content.decode()

    assert "Phishing recipients" in page
    assert "Failed sign-ins" not in page  # its category is failed-login


def test_staff_who_cannot_work_incidents_cannot_ask_people(db, phishing, client):
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_securityincident"))
    client.force_login(reader)

    response = client.get(ask_people_url(phishing))

    assert response.status_code == 403
