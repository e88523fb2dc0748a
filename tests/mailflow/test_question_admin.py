"""The question in the incident's header and on its own page: where it stands, its answer,
held answers, and the actions' buttons (POST only, CSRF-checked, for analysts alone),
each saying what it did or why nothing changed."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from incidents import groups
from mailflow.answers import answer_record
from mailflow.due_requests import requests_process_due
from mailflow.models import Answer, ConfirmationRequest, ResentEmail
from mailflow.request_actions import request_send_again
from runbooks.models import RunbookRun
from runbooks.starting import runs_start_for_people
from tests.builders.answers import hold
from tests.builders.inbound import titles
from tests.factories import PersonFactory, UserFactory, category, open_incident

State = ConfirmationRequest.State


def incident_page(incident) -> str:
    return reverse("admin:incidents_securityincident_change", args=[incident.pk])


def request_page(request) -> str:
    return reverse("admin:mailflow_confirmationrequest_change", args=[request.pk])


def action(request, name: str) -> str:
    return reverse(f"admin:mailflow_confirmationrequest_{name}", args=[request.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def header(response) -> str:
    page = response.content.decode()
    return page[
        page.index('<section id="question"') : page.index(
            "</section>", page.index('<section id="question"')
        )
    ]


@pytest.fixture
def signed_in(client, analyst) -> Client:
    client.force_login(analyst)
    return client


# --- the incident's header --------------------------------------------------------------


def test_the_header_shows_the_open_question_and_its_email(asked, committed, signed_in):
    request = asked("failed-login")

    section = header(signed_in.get(incident_page(request.incident)))

    assert "Question to Bob Builder" in section and "Sent" in section
    assert "“Were the failed sign-in attempts on your account made by you?”" in section
    assert "bob@corp.example.com" in section
    assert re.search(r"23\shours, 59\sminutes left", section)
    assert "Reminder</dt><dd>due" in section
    for name in ("send_again", "extend", "end_now", "withdraw"):
        assert f'action="{action(request, name)}"' in section
    assert 'name="back" value="incident"' in section


def test_the_header_counts_the_reminders_sent_and_names_the_next(asked, committed, signed_in):
    request = asked("failed-login")  # reminders after 4 h and 12 h
    committed(requests_process_due, request.created_at + timedelta(hours=5))

    section = header(signed_in.get(incident_page(request.incident)))

    assert re.search(r"Reminder</dt><dd>sent \d{4}-\d\d-\d\d", section)
    assert "next due" in section
    committed(requests_process_due, request.created_at + timedelta(hours=13))
    section = header(signed_in.get(incident_page(request.incident)))
    assert "2 sent, the last" in section and "next due" not in section


def test_the_header_shows_the_answer_with_its_label_channel_and_comment(
    asked, committed, signed_in
):
    request = asked("failed-login")
    committed(
        answer_record,
        request=request,
        option_key="no",
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
        comment="<b>I was asleep</b>",
    )

    section = header(signed_in.get(incident_page(request.incident)))

    assert "Answer: “No, that was not me”</strong> by answer page" in section
    assert "through the person&#x27;s own answer link" in section
    assert "&lt;b&gt;I was asleep&lt;/b&gt;" in section
    assert "Answered" in section and 'action="' not in section  # closed: no actions


def test_the_header_shows_a_held_answer_with_its_accept_button(asked, committed, signed_in):
    request = asked("failed-login")
    held = committed(hold, request)

    section = header(signed_in.get(incident_page(request.incident)))

    assert 'id="held-answers"' in section and "headless browser" in section
    assert reverse("admin:mailflow_held_answer_accept", args=[held.pk]) in section


def test_an_incident_without_a_question_has_no_question_section(signed_in, incident):
    assert '<section id="question"' not in signed_in.get(incident_page(incident)).content.decode()


@pytest.fixture
def campaign(shipped, committed):
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(4)]
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )
    return incident


def test_a_campaign_is_summed_up_as_its_page_counts_it_with_links_there(
    campaign, committed, signed_in
):
    first, second, third, _ = ConfirmationRequest.objects.filter(incident=campaign).order_by("pk")
    options = first.options
    for request, key in ((first, options[0]["key"]), (third, "suspicious")):
        committed(answer_record, request=request, option_key=key, channel=Answer.Channel.PAGE)
    committed(hold, second, options[1]["key"])

    section = header(signed_in.get(incident_page(campaign)))

    # The campaign page's own figures, and the way there.
    assert "Questions to 4 people" in section
    assert "<strong>50%</strong> answered" in section
    assert f"<strong>1</strong> {options[0]['label']}" in section
    assert "<strong>1</strong> Looks suspicious" in section
    assert "<strong>1</strong> Held or flagged" in section
    assert "<strong>1</strong> No answer yet" in section
    assert f'href="{reverse("incident_campaign", args=[campaign.pk])}"' in section
    assert 'id="held-answers"' in section
    link = reverse("admin:mailflow_confirmationrequest_changelist") + f"?incident={campaign.pk}"
    assert f'href="{link}"' in section
    listed = signed_in.get(link)
    assert listed.status_code == 200
    assert len(listed.context["cl"].result_list) == 4


def test_the_incident_page_costs_the_same_queries_with_more_answers_and_emails(
    asked, committed, signed_in
):
    request = asked("failed-login")

    def query_count(page: str) -> int:
        signed_in.get(page)  # the session and caches warmed
        with CaptureQueriesContext(connection) as queries:
            response = signed_in.get(page)
        assert response.status_code == 200
        return len(queries)

    committed(hold, request)
    few = [query_count(incident_page(request.incident)), query_count(request_page(request))]
    for n in range(2):
        committed(hold, request, "yes" if n % 2 else "no")
    ResentEmail.objects.bulk_create(
        ResentEmail(request=request, message_id=f"<r{n}@x>", sent_at=timezone.now())
        for n in range(5)
    )
    many = [query_count(incident_page(request.incident)), query_count(request_page(request))]

    assert many == few


def test_a_campaigns_header_costs_the_same_queries_for_more_people(
    campaign, shipped, committed, signed_in
):
    def query_count() -> int:
        signed_in.get(incident_page(campaign))
        with CaptureQueriesContext(connection) as queries:
            signed_in.get(incident_page(campaign))
        return len(queries)

    first = ConfirmationRequest.objects.filter(incident=campaign).first()
    committed(hold, first, first.options[0]["key"])
    few = query_count()
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=campaign,
        people=[PersonFactory() for _ in range(6)],
    )
    for request in ConfirmationRequest.objects.filter(incident=campaign)[1:3]:
        committed(hold, request, request.options[0]["key"])

    assert query_count() == few


# --- the question's page ----------------------------------------------------------------


def test_the_question_page_shows_options_and_flags_as_words(asked, committed, signed_in):
    request = asked("failed-login")
    committed(hold, request)

    page = signed_in.get(request_page(request)).content.decode()

    assert "<li>Yes, that was me</li><li>No, that was not me</li>" in page
    assert "suspected automated" in page
    assert ">[]<" not in page and "[&#x27;" not in page and "&#x27;key&#x27;" not in page
    assert re.search(r'class="field-flag_words">\s*<p>suspected automated</p>', page)
    assert 'name="back" value="request"' in page


def test_the_held_answer_is_accepted_from_the_question_page(asked, committed, signed_in, analyst):
    request = asked("failed-login")
    held = committed(hold, request)
    url = reverse("admin:mailflow_held_answer_accept", args=[held.pk])

    response = committed(signed_in.post, url, {"back": "request"}, follow=True)

    assert response.redirect_chain[-1][0] == request_page(request)
    assert "Accepted “No, that was not me” as the answer" in " ".join(messages_of(response))
    assert Answer.objects.get(counted=True).accepted_by == analyst
    assert titles(request) == ["Reset the credentials of Bob Builder"]


# --- the actions' views -----------------------------------------------------------------


def test_ending_from_the_header_takes_the_branch_and_comes_back(asked, committed, signed_in):
    request = asked("failed-login")

    response = committed(
        signed_in.post, action(request, "end_now"), {"back": "incident", "reason": ""}, follow=True
    )

    assert response.redirect_chain[-1][0] == incident_page(request.incident) + "#question"
    assert messages_of(response) == [
        "Question ended as no answer: the runbook continues on its “no answer” branch."
    ]
    request.refresh_from_db()
    assert request.state == State.NO_ANSWER
    assert titles(request) == ["Contact Bob Builder directly"]
    second = committed(signed_in.post, action(request, "end_now"), follow=True)
    assert messages_of(second) == [
        "This question already ended without an answer: nothing changed."
    ]
    assert second.redirect_chain[-1][0] == request_page(request)


def test_withdrawing_from_the_question_page(asked, committed, signed_in, analyst):
    request = asked("failed-login")

    response = committed(
        signed_in.post,
        action(request, "withdraw"),
        {"reason": "Asked the wrong person"},
        follow=True,
    )

    assert "Question to Bob Builder withdrawn" in messages_of(response)[0]
    request.refresh_from_db()
    assert request.state == State.CANCELLED
    entry = request.incident.timeline.get(kind="request.cancelled")
    assert (entry.body, entry.actor_user) == ("Asked the wrong person", analyst)
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING


def test_sending_again_from_the_question_page(asked, committed, signed_in, outbox):
    request = asked("failed-login")

    first = committed(signed_in.post, action(request, "send_again"), follow=True)
    second = committed(signed_in.post, action(request, "send_again"), follow=True)

    assert messages_of(first)[0].startswith("The question goes to bob@corp.example.com again")
    assert "Nothing changed" in messages_of(second)[0]
    assert len(outbox) == 2 and ResentEmail.objects.count() == 1


def test_extending_by_hours_adds_them_to_the_deadline_shown(asked, committed, signed_in):
    request = asked("failed-login")
    shown = request.deadline_at.isoformat()

    first = committed(
        signed_in.post, action(request, "extend"), {"hours": "12", "shown": shown}, follow=True
    )
    again = committed(
        signed_in.post, action(request, "extend"), {"hours": "12", "shown": shown}, follow=True
    )

    request.refresh_from_db()
    assert request.deadline_at.isoformat() != shown
    assert request.incident.timeline.filter(kind="request.deadline_extended").count() == 1
    assert messages_of(first)[0].startswith("Deadline extended to ")
    assert "The deadline changed since this page was shown" in messages_of(again)[0]


def test_extending_to_a_date_and_time(asked, committed, signed_in, settings):
    request = asked("failed-login")
    target = timezone.localtime(request.deadline_at + timedelta(days=2)).replace(
        second=0, microsecond=0
    )

    committed(
        signed_in.post,
        action(request, "extend"),
        {"deadline": target.strftime("%Y-%m-%dT%H:%M"), "hours": ""},
    )

    request.refresh_from_db()
    assert request.deadline_at == target


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Give the hours to add, or the new deadline."),
        ({"hours": "-3"}, "Add hours: Ensure this value is greater than or equal to 1."),
        ({"deadline": "next tuesday"}, "or set the deadline to: Enter a valid date/time."),
        ({"deadline": "2001-01-01T10:00"}, "The new deadline must be in the future."),
    ],
)
def test_a_bad_extension_is_said_and_changes_nothing(asked, committed, signed_in, data, message):
    request = asked("failed-login")
    deadline = request.deadline_at

    response = committed(signed_in.post, action(request, "extend"), data, follow=True)

    assert response.status_code == 200
    assert messages_of(response) == [message]
    request.refresh_from_db()
    assert request.deadline_at == deadline


@pytest.mark.parametrize("name", ["withdraw", "send_again", "extend", "end_now"])
def test_the_actions_change_nothing_on_get(asked, committed, signed_in, name):
    request = asked("failed-login")

    assert signed_in.get(action(request, name)).status_code == 405
    request.refresh_from_db()
    assert request.state == State.SENT


@pytest.mark.parametrize("name", ["withdraw", "send_again", "extend", "end_now"])
def test_the_actions_need_the_csrf_token(asked, analyst, name):
    request = asked("failed-login")
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)

    assert client.post(action(request, name), {"hours": "5"}).status_code == 403
    request.refresh_from_db()
    assert (request.state, ResentEmail.objects.count()) == (State.SENT, 0)


@pytest.mark.parametrize("name", ["withdraw", "send_again", "extend", "end_now"])
def test_a_runbook_author_or_a_reader_cannot_act(asked, committed, client, name):
    request = asked("failed-login")
    author = UserFactory(is_staff=True)
    author.groups.add(Group.objects.get(name=groups.RUNBOOK_AUTHOR))
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_securityincident", "view_confirmationrequest"]
        )
    )

    for user in (author, reader):
        client.force_login(user)
        assert committed(client.post, action(request, name), {"hours": "5"}).status_code == 403
        page = client.get(request_page(request)).content.decode()
        assert action(request, name) not in page

    request.refresh_from_db()
    assert (request.state, ResentEmail.objects.count()) == (State.SENT, 0)


def test_the_soc_analyst_group_may_act_without_superuser_rights(analyst):
    assert not analyst.is_superuser
    assert analyst.groups.filter(name=groups.SOC_ANALYST).exists()
    assert analyst.has_perm("mailflow.change_confirmationrequest")


def test_a_sent_again_email_shows_in_the_header_and_on_the_question_page(
    asked, committed, signed_in, as_analyst
):
    request = asked("failed-login")
    resent = committed(request_send_again, request=request, actor=as_analyst)

    assert "sent again" in header(signed_in.get(incident_page(request.incident)))
    page = signed_in.get(request_page(request)).content.decode()
    assert "Emails sent again" in page and resent.message_id.strip("<>") in page
