"""The campaign page of an incident on which many people were asked: counts by outcome
that agree with the people they link to, the list searched and paginated, Remind now
(once an hour, only those who have not answered, in the background), the CSV, the live
figures, the panel on the incident page, and what each costs in queries."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from mailflow import admin_campaign
from mailflow import campaigns as campaign_services
from mailflow.admin_campaign import csv_cell
from mailflow.answers import answer_record
from mailflow.campaign_figures import campaign_outcomes, campaign_requests
from mailflow.campaigns import campaign_remind, campaign_remind_send
from mailflow.due_requests import requests_process_due
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_mark_undeliverable
from runbooks.starting import runs_start_for_people
from tests.factories import PersonFactory, UserFactory, category, open_incident

State = ConfirmationRequest.State


@pytest.fixture
def phishing(committed):
    return committed(
        open_incident, category=category("phishing"), short_description="Invoice overdue"
    )


def ask(committed, shipped, incident, people) -> list[ConfirmationRequest]:
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )
    return list(ConfirmationRequest.objects.filter(incident=incident).order_by("pk"))


@pytest.fixture
def campaign(shipped, committed, phishing):
    """Ten people asked: two clicked, one did not (by email), one reported the email as
    suspicious, one answer held as a mail scanner's, one bounced, one past the deadline,
    three still waiting."""
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(10)]
    requests = ask(committed, shipped, phishing, people)
    page = Answer.Channel.PAGE
    committed(answer_record, request=requests[0], option_key="yes", channel=page)
    committed(answer_record, request=requests[1], option_key="yes", channel=page)
    committed(
        answer_record, request=requests[2], option_key="no", channel=Answer.Channel.EMAIL_REPLY
    )
    committed(answer_record, request=requests[3], option_key="suspicious", channel=page)
    committed(
        answer_record,
        request=requests[4],
        option_key="yes",
        channel=page,
        suspected_automated=True,
    )
    committed(
        request_mark_undeliverable,
        request=requests[5],
        actor=Actor.email_provider("Postmark"),
        reason="Mailbox full",
    )
    ConfirmationRequest.objects.filter(pk=requests[6].pk).update(
        deadline_at=timezone.now() - timedelta(minutes=1)
    )
    committed(requests_process_due)
    return requests


EXPECTED = {
    "Yes, I clicked a link or opened an attachment": 2,
    "No, I did not": 1,
    "Looks suspicious": 1,
    "Held or flagged": 1,
    "No answer yet": 3,
    "No answer at the deadline": 1,
    "Undeliverable": 1,
}


def page_url(incident, **query) -> str:
    return admin_campaign.campaign_url(incident, **query)


def test_it_counts_each_outcome_once(campaign, phishing):
    outcomes = campaign_outcomes(campaign_requests(phishing))

    assert {o.label: o.count for o in outcomes} == EXPECTED
    assert [o.key for o in outcomes][:2] == ["answer:yes", "answer:no"]


def test_each_count_links_to_exactly_the_people_behind_it(campaign, phishing, client, analyst):
    client.force_login(analyst)
    response = client.get(page_url(phishing))
    assert response.status_code == 200
    by_key = {}
    for segment in response.context["segments"]:
        listed = client.get(segment.url)
        names = {row.name for row in listed.context["rows"]}
        assert listed.context["page"].paginator.count == segment.outcome.count, segment
        by_key[segment.outcome.key] = names
    assert by_key["answer:yes"] == {"P0 Person", "P1 Person"}
    assert by_key["held"] == {"P4 Person"}
    assert by_key["waiting"] == {"P7 Person", "P8 Person", "P9 Person"}
    assert by_key["undeliverable"] == {"P5 Person"}
    assert by_key["no_answer"] == {"P6 Person"}
    assert by_key["suspicious"] == {"P3 Person"}


def test_the_list_shows_when_and_how_each_answered_and_can_be_searched(
    campaign, phishing, client, analyst
):
    client.force_login(analyst)

    response = client.get(page_url(phishing, q="p2 person"))

    (row,) = response.context["rows"]
    assert row.name == "P2 Person"
    assert row.outcome_label == "No, I did not"
    assert row.channel == "email reply"
    assert row.request.answer_at is not None
    assert row.request.sent_at is not None
    html = response.content.decode()
    assert "answer.received" not in html and "answer:no" not in html.split("<table")[1]


def test_an_unknown_outcome_shows_everyone_with_a_message(campaign, phishing, client, analyst):
    client.force_login(analyst)

    response = client.get(page_url(phishing, outcome="<script>"), follow=True)

    assert response.status_code == 200
    assert response.context["page"].paginator.count == 10
    assert "There is no such outcome" in response.content.decode()
    assert "<script>" not in response.content.decode().split("content-main")[1]


def test_the_list_is_paginated(shipped, committed, phishing, client, analyst, monkeypatch):
    monkeypatch.setattr(admin_campaign, "PER_PAGE", 2)
    ask(committed, shipped, phishing, [PersonFactory() for _ in range(5)])
    client.force_login(analyst)

    response = client.get(page_url(phishing, outcome="waiting", page="3"))

    assert len(response.context["rows"]) == 1
    assert "outcome=waiting&amp;page=2" in response.content.decode()
    assert client.get(page_url(phishing, page="x")).status_code == 200


def test_the_page_costs_the_same_queries_for_many_people(
    shipped, committed, phishing, client, analyst
):
    client.force_login(analyst)
    ask(committed, shipped, phishing, [PersonFactory() for _ in range(3)])
    urls = [
        page_url(phishing),
        page_url(phishing, outcome="waiting", q="a"),
        reverse("incident_campaign_progress", args=[phishing.pk]),
        reverse("incident_campaign_csv", args=[phishing.pk]),
        reverse("admin:incidents_securityincident_change", args=[phishing.pk]),
    ]

    def costs() -> list[int]:
        counts = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
                if hasattr(response, "streaming_content"):
                    b"".join(response.streaming_content)
            assert response.status_code == 200, url
            counts.append(len(queries))
        return counts

    costs()  # the first visit of a page fills per-process caches
    few = costs()
    ask(committed, shipped, phishing, [PersonFactory() for _ in range(30)])
    request = ConfirmationRequest.objects.filter(incident=phishing).last()
    committed(answer_record, request=request, option_key="no", channel=Answer.Channel.PAGE)
    # More held answers than the header lists: a count there, the list below the form.
    for request in ConfirmationRequest.objects.filter(incident=phishing, state=State.SENT)[:5]:
        committed(
            answer_record,
            request=request,
            option_key="yes",
            channel=Answer.Channel.PAGE,
            suspected_automated=True,
        )

    assert costs() == few


def test_the_incident_page_leads_to_the_campaign(campaign, phishing, client, analyst, incident):
    client.force_login(analyst)

    page = client.get(reverse("admin:incidents_securityincident_change", args=[phishing.pk]))
    single = client.get(reverse("admin:incidents_securityincident_change", args=[incident.pk]))

    html = page.content.decode()
    assert "Questions to 10 people" in html
    assert "<strong>40%</strong> answered" in html
    assert page_url(phishing) in html
    assert "Open the campaign view" not in single.content.decode()


# --- Remind now -------------------------------------------------------------------------


def test_remind_now_reminds_only_those_who_have_not_answered(
    campaign, phishing, client, analyst, outbox, committed
):
    client.force_login(analyst)
    before = len(outbox)

    response = committed(
        client.post, reverse("incident_campaign_remind", args=[phishing.pk]), follow=True
    )

    assert "Reminding 4 people who have not answered" in response.content.decode()
    reminded = [m.to[0] for m in outbox[before:]]
    waiting = {r.recipient_email for r in campaign[7:]} | {campaign[4].recipient_email}
    assert sorted(reminded) == sorted(waiting)
    (entry,) = phishing.timeline.filter(kind="campaign.reminded")
    assert entry.actor_user == analyst
    assert entry.data == {"count": 4, "up_to": campaign[9].pk}
    assert phishing.timeline.filter(kind="request.reminded").count() == 4
    assert set(
        ConfirmationRequest.objects.filter(reminders_sent=1).values_list("pk", flat=True)
    ) == {campaign[4].pk, *(r.pk for r in campaign[7:])}


def test_remind_now_is_refused_within_the_hour(campaign, phishing, committed, outbox):
    committed(campaign_remind, incident=phishing, actor=Actor.system())
    sent = len(outbox)

    with pytest.raises(DomainError, match="less than an hour ago"):
        committed(campaign_remind, incident=phishing, actor=Actor.system())
    later = timezone.now() - timedelta(minutes=61)
    phishing.timeline.filter(kind="campaign.reminded").update(created_at=later)
    with pytest.raises(DomainError, match="Nobody to remind"):
        committed(campaign_remind, incident=phishing, actor=Actor.system())

    assert len(outbox) == sent
    assert phishing.timeline.filter(kind="campaign.reminded").count() == 1


def test_the_page_says_why_remind_now_is_refused(campaign, phishing, client, analyst, outbox):
    client.force_login(analyst)
    url = reverse("incident_campaign_remind", args=[phishing.pk])
    client.post(url)

    again = client.post(url, follow=True)

    assert "reminded less than an hour ago" in again.content.decode()
    assert phishing.timeline.filter(kind="campaign.reminded").count() == 1


def test_the_reminder_task_is_idempotent_and_chunked(
    campaign, phishing, committed, outbox, monkeypatch
):
    monkeypatch.setattr(campaign_services, "REMIND_CHUNK", 2)
    monkeypatch.setattr(
        campaign_services, "enqueue_on_commit", lambda *args: None
    )  # the worker is run by hand below
    entry = committed(campaign_remind, incident=phishing, actor=Actor.system())
    before = len(outbox)

    first = campaign_remind_send(entry.pk)  # reminds 2, then the next task the other 2
    again = campaign_remind_send(entry.pk)

    assert first == 2 and again == 0
    assert len(outbox) - before == 4
    assert ConfirmationRequest.objects.filter(reminders_sent=1).count() == 4


def test_remind_now_needs_the_right_to_change_the_incident(campaign, phishing, client):
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_securityincident", "view_confirmationrequest"]
        )
    )
    client.force_login(reader)

    assert client.get(page_url(phishing)).status_code == 200
    assert client.post(reverse("incident_campaign_remind", args=[phishing.pk])).status_code == 403
    assert not phishing.timeline.filter(kind="campaign.reminded").exists()


def test_a_user_without_view_permissions_gets_403(campaign, phishing, client):
    client.force_login(UserFactory(is_staff=True))

    for name in ["incident_campaign", "incident_campaign_progress", "incident_campaign_csv"]:
        assert client.get(reverse(name, args=[phishing.pk])).status_code == 403, name


# --- Live figures and CSV -----------------------------------------------------------------


def test_the_live_figures_count_an_answer_as_it_arrives(campaign, phishing, client, analyst):
    client.force_login(analyst)
    url = reverse("incident_campaign_progress", args=[phishing.pk])
    before = client.get(url).json()

    answer_record(request=campaign[7], option_key="no", channel=Answer.Channel.PAGE)
    after = client.get(url).json()

    counts = [{o["key"]: o["count"] for o in figures["outcomes"]} for figures in (before, after)]
    assert counts[0]["answer:no"] + 1 == counts[1]["answer:no"]
    assert counts[0]["waiting"] - 1 == counts[1]["waiting"]
    assert after["total"] == after["sent"] == 10 and not after["sending"]
    assert after["poll_seconds"] == admin_campaign.POLL_SECONDS_WAITING
    assert after["done"] is False
    assert after["outcomes"][-1]["x"] + after["outcomes"][-1]["width"] == pytest.approx(1000)


def read_csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_lists_the_filtered_people_without_tokens(campaign, phishing, client, analyst):
    client.force_login(analyst)

    response = client.get(
        reverse("incident_campaign_csv", args=[phishing.pk]), {"outcome": "answer:yes"}
    )

    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="{phishing.number}-campaign.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert [r["name"] for r in rows] == ["P0 Person", "P1 Person"]
    assert rows[0]["outcome"] == "Yes, I clicked a link or opened an attachment"
    assert rows[0]["channel"] == "answer page" and rows[0]["answered"]
    request = campaign[0]
    everything = b"".join(
        client.get(reverse("incident_campaign_csv", args=[phishing.pk])).streaming_content
    ).decode()
    assert request.token_hash not in everything and request.token_nonce not in everything
    assert len(everything.splitlines()) == 11


def test_the_csv_neutralises_formulas(shipped, committed, phishing, client, analyst):
    evil = PersonFactory(first_name='=HYPERLINK("http://x")', last_name="Person")
    ask(committed, shipped, phishing, [evil, PersonFactory(first_name="@SUM(1)")])
    client.force_login(analyst)

    rows = read_csv(client.get(reverse("incident_campaign_csv", args=[phishing.pk])))

    assert rows[0]["name"].startswith("'=HYPERLINK")
    assert rows[1]["name"].startswith("'@SUM")
    cells = [csv_cell(v) for v in ["+1", "-1", "\tx", "ok", None]]
    assert cells == ["'+1", "'-1", "'\tx", "ok", ""]
