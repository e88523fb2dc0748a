"""Mailflow's figures on the dashboard: questions waiting and due within 4 h, answers
needing review, inbound email failed or flagged, the time from question to answer and the
answer rate; each count against crafted rows and against the list it links to."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone

from incidents.models import SecurityIncident
from mailflow.dashboard_figures import mailflow_figures, percentile
from mailflow.models import ConfirmationRequest, InboundEmail
from tests.builders.dashboard import answer, busy_month, inbound, listed, question, set_state
from tests.factories import UserFactory, open_incident

State = ConfirmationRequest.State


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def figures_of(user, now=None) -> dict[str, object]:
    figures = mailflow_figures(user, now or timezone.now())
    every = {}
    for card in figures.cards:
        for figure in [*card.figures, *(f for b in card.breakdowns for f in b.figures)]:
            every[figure.label] = figure
    return every


def test_questions_waiting_are_the_ones_not_yet_answered_expired_or_withdrawn(analyst, incident):
    for state in State.values:
        question(incident, state=state)

    shown = figures_of(analyst)

    assert shown["Waiting for an answer"].value == 3  # pending, sent, delivered


def test_due_within_4_h_counts_a_deadline_exactly_4_h_away_but_not_a_second_later(
    analyst, incident
):
    now = timezone.now()
    question(incident, deadline_at=now + timedelta(hours=4))
    question(incident, deadline_at=now + timedelta(hours=4, seconds=1))
    question(incident, deadline_at=now + timedelta(minutes=5), state=State.DELIVERED)
    question(incident, deadline_at=now - timedelta(minutes=1))  # past, not yet closed
    question(incident, deadline_at=now + timedelta(hours=1), state=State.ANSWERED)
    question(incident, deadline_at=now + timedelta(hours=1), state=State.CANCELLED)

    shown = figures_of(analyst, now)

    assert shown["Due within 4 h"].value == 3
    assert shown["Waiting for an answer"].value == 4


def test_answers_needing_review_fall_in_one_group_each(analyst, incident):
    waiting = question(incident)
    answer(waiting, suspected_automated=True)  # held as a possible scanner
    answer(waiting, suspected_automated=True, sender_mismatch=True)  # another sender
    answer(waiting, sender_mismatch=True, from_recipient=False)
    answered = question(incident, state=State.ANSWERED)
    answer(answered, counted=True)  # the answer: nothing to review
    answer(answered, is_revision=True)
    answer(answered, suspected_automated=True)  # its question is settled: no longer held
    expired = question(incident, state=State.NO_ANSWER)
    answer(expired, late=True)
    done = open_incident()
    late_on_closed = question(done, state=State.NO_ANSWER)
    answer(late_on_closed, late=True)
    answer(question(done, state=State.ANSWERED), is_revision=True)
    set_state(done, SecurityIncident.State.CLOSED)

    shown = figures_of(analyst)

    assert shown["Held as a possible mail scanner"].value == 1
    assert shown["Sender mismatch"].value == 2
    assert shown["Changed answers"].value == 1
    assert shown["Late answers"].value == 1
    assert shown["Answers needing review"].value == 5


def test_inbound_email_failed_and_flagged_on_an_open_incident(analyst, incident):
    inbound(InboundEmail.Status.FAILED)
    inbound(InboundEmail.Status.FAILED, incident)
    inbound(InboundEmail.Status.ANSWERED, incident)
    inbound(InboundEmail.Status.FLAGGED, incident)
    inbound(InboundEmail.Status.FLAGGED)  # tied to no incident: nothing to act on
    closed = open_incident()
    inbound(InboundEmail.Status.FLAGGED, closed)
    set_state(closed, SecurityIncident.State.CANCELLED)

    shown = figures_of(analyst)

    assert shown["Failed"].value == 2
    assert shown["Flagged for an analyst"].value == 1


def test_each_figure_links_to_a_list_of_exactly_the_rows_it_counts(analyst_client, analyst):
    now = timezone.now()
    busy_month(now)
    incident = open_incident()
    waiting = question(incident, deadline_at=now + timedelta(hours=3))
    answer(waiting, sender_mismatch=True)
    answer(question(incident, state=State.ANSWERED), is_revision=True)
    answer(question(incident, state=State.NO_ANSWER), late=True)

    shown = figures_of(analyst, now)

    assert len(shown) == 9
    for label, figure in shown.items():
        assert figure.value > 0, label
        assert listed(analyst_client, figure.url).count() == figure.value, label


def test_the_review_list_shows_the_answers_counted(analyst_client, analyst, incident):
    held = answer(question(incident), suspected_automated=True)
    answer(question(incident, state=State.ANSWERED), counted=True)

    rows = listed(analyst_client, figures_of(analyst)["Answers needing review"].url)

    assert list(rows) == [held]


def test_time_to_answer_is_the_median_and_90th_percentile_per_day(analyst, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 12, 5, 18, 0, tzinfo=berlin)
    incident = open_incident()
    sent = datetime(2026, 12, 4, 8, 0, tzinfo=berlin)
    for hours in (1, 2, 3, 4):
        question(
            incident, state=State.ANSWERED, sent_at=sent, answered_at=sent + timedelta(hours=hours)
        )
    # Answered at 23:30 UTC on 4 December, which is 5 December in Berlin.
    question(
        incident,
        state=State.ANSWERED,
        sent_at=datetime(2026, 12, 4, 20, 30, tzinfo=ZoneInfo("UTC")),
        answered_at=datetime(2026, 12, 4, 23, 30, tzinfo=ZoneInfo("UTC")),
    )
    question(incident, state=State.SENT, sent_at=sent)
    question(incident, state=State.ANSWERED, sent_at=sent, answered_at=now - timedelta(days=31))

    chart = next(c for c in mailflow_figures(analyst, now).charts if "answer" in c.title.lower())

    rows = {row[0].text: [cell.text for cell in row[1:]] for row in chart.rows}
    assert chart.title == "Time from question to answer"
    assert rows["4 Dec"] == ["2.5 h", "3.7 h", "4"]
    assert rows["5 Dec"] == ["3.0 h", "3.0 h", "1"]
    assert rows["3 Dec"] == ["none", "none", "0"]
    assert "<title>p50 (median), 4 Dec: 2.5 h</title>" in chart.svg
    assert "<title>p90, 4 Dec: 3.7 h</title>" in chart.svg
    assert chart.note == "5 questions answered in the last 30 days."


def test_time_to_answer_under_two_hours_is_shown_in_minutes(analyst, incident):
    now = timezone.now()
    question(
        incident,
        state=State.ANSWERED,
        sent_at=now - timedelta(minutes=50),
        answered_at=now - timedelta(minutes=10),
    )

    chart = mailflow_figures(analyst, now).charts[0]

    assert chart.rows[-1][1].text == "40.0 min"


def test_the_answer_rate_counts_what_became_of_the_questions_asked(analyst_client, analyst):
    incident = open_incident()
    for state in [State.ANSWERED] * 3 + [State.NO_ANSWER, State.UNDELIVERABLE, State.SENT]:
        question(incident, state=state)
    question(incident, state=State.ANSWERED, created_at=timezone.now() - timedelta(days=45))

    chart = mailflow_figures(analyst, timezone.now()).charts[1]

    assert chart.title == "Answer rate"
    assert [(row[0].text, row[1].text) for row in chart.rows] == [
        ("Answered", "3"),
        ("No answer", "1"),
        ("Undeliverable", "1"),
    ]
    assert "<title>Answered: 3 (60%)</title>" in chart.svg
    assert "Undeliverable: 1 (20%)" in chart.svg
    assert "1 still waiting" in chart.note
    answered = listed(analyst_client, chart.rows[0][1].url)
    assert answered.count() == 3


def test_percentiles_interpolate_between_ranks():
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(3.7)


def test_without_the_view_permissions_no_mail_figure_is_shown(db):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_answer"))

    figures = mailflow_figures(user, timezone.now())

    assert [c.title for c in figures.cards] == ["Answers"]
    assert figures.charts == ()


def test_an_analyst_may_open_the_answer_list_and_others_may_not(analyst_client, client, db):
    assert analyst_client.get("/admin/mailflow/answer/?review=any").status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/admin/mailflow/answer/?review=any").status_code == 403


def test_the_answer_list_costs_the_same_number_of_queries_whatever_the_answers(
    analyst_client, incident
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page = analyst_client.get("/admin/mailflow/answer/?review=any")
        assert page.status_code == 200
        return len(captured)

    answer(question(incident), suspected_automated=True)
    few = queries()
    for _ in range(5):
        person = question(open_incident())
        answer(person, sender_mismatch=True)
        answer(person, suspected_automated=True)
    many = queries()

    assert few == many
