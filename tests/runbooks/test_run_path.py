"""A run's path: the steps it executed and the branch it took, highlighted on the diagram of
its runbook version (the run's page, the incident's Runbooks section), and the step it is
on in the incident's summary header."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.actors import Actor
from runbooks.models import RunbookRun
from runbooks.run_path import DONE, FAILED, NEXT, SKIPPED, WAITING, run_path, run_step_text
from runbooks.services import run_resume
from runbooks.starting import runs_start_for_people
from tests.factories import PersonFactory, UserFactory

State = RunbookRun.State
USER = Actor.end_user("Bob Builder")


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def sign_ins(shipped, open_with_runbooks):
    """A failed-login incident: the shipped Failed sign-ins runbook has set it to analysis
    and waits for Bob's answer (step 2 of 7)."""
    return open_with_runbooks("failed-login")


def the_run(incident) -> RunbookRun:
    return RunbookRun.objects.get(incident=incident)


def answered_no(committed, incident) -> RunbookRun:
    committed(run_resume, run=the_run(incident), outcome="no", actor=USER, channel="answer page")
    return the_run(incident)


def step_classes(svg: str) -> list[str]:
    """The class of each step's group, in step order."""
    return re.findall(r'<g class="(flow-step[^"]*)"', svg)


def page_of(client, incident) -> str:
    url = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    return client.get(url).content.decode()


# --- the path -------------------------------------------------------------------------------


def test_a_waiting_run_has_done_its_first_step_and_waits_on_the_question(sign_ins):
    run = the_run(sign_ins)

    assert run_path(run, run.results.all()) == {0: DONE, 1: WAITING}
    assert run_step_text(run) == (
        "Step 2 of 7, Ask the affected user: Were the failed sign-in attempts on you…"
    )


def test_an_answered_run_took_its_branch_and_skipped_the_others(sign_ins, committed):
    run = answered_no(committed, sign_ins)

    assert run.state == State.COMPLETED
    assert run_path(run, run.results.all()) == {
        0: DONE,
        1: DONE,  # the question, answered
        2: SKIPPED,  # the manager, asked when the person does not answer
        3: SKIPPED,  # the "yes" branch
        4: DONE,
        5: DONE,
        6: SKIPPED,  # anything else
    }
    assert run_step_text(run) == "All 7 steps done"


def test_a_failed_or_running_run_marks_the_step_it_is_at(sign_ins):
    run = the_run(sign_ins)
    run.state, run.position = State.FAILED, 2
    results = list(run.results.all())

    assert run_path(run, results)[2] == FAILED
    assert run_step_text(run).startswith("Failed at step 3 of 7, Ask their manager: Were")
    run.state = State.RUNNING
    assert run_path(run, results)[2] == NEXT
    run.state = State.CANCELLED
    assert 2 not in run_path(run, results)
    assert run_step_text(run).startswith("Cancelled before step 3 of 7")


def test_the_run_page_highlights_the_path_and_the_branch_taken(analyst_client, sign_ins, committed):
    run = answered_no(committed, sign_ins)

    page = analyst_client.get(
        reverse("admin:runbooks_runbookrun_change", args=[run.pk])
    ).content.decode()

    assert step_classes(page) == [
        "flow-step path-done",
        "flow-step flow-ask path-done",
        "flow-step flow-ask path-skipped",
        "flow-step path-skipped",
        "flow-step path-done",
        "flow-step path-done",
        "flow-step path-skipped",
    ]
    taken = re.findall(r'<g class="flow-lane flow-lane-taken">.*?<text[^>]*>([^<]*)</text>', page)
    assert taken == ["otherwise", "answer: no"]  # past the manager: the person answered
    # Arrows along the path: into the question, into the "no" lane, and within it.
    assert page.count('class="flow-taken"') == 3
    assert "Version 1, as the run started." in page


def test_the_run_page_marks_the_question_a_run_waits_on(analyst_client, sign_ins):
    run = the_run(sign_ins)

    page = analyst_client.get(
        reverse("admin:runbooks_runbookrun_change", args=[run.pk])
    ).content.decode()

    assert step_classes(page)[:3] == [
        "flow-step path-done",
        "flow-step flow-ask path-waiting",
        "flow-step flow-ask",
    ]
    assert "<title>Step 2: waiting for an answer</title>" in page
    assert "waiting here" in page


# --- on the incident page -------------------------------------------------------------------


def test_the_header_names_the_runbook_its_version_and_the_step(analyst_client, sign_ins):
    page = page_of(analyst_client, sign_ins)

    card = page[page.index('id="summary-runbook"') :]
    card = card[: card.index("</section>")]
    assert "Failed sign-ins" in card and "v1" in card and "Waiting for an answer" in card
    assert "Step 2 of 7, Ask the affected user" in card
    assert page.index('id="summary-runbook"') < page.index('id="securityincident_form"')


def test_the_header_says_when_no_runbook_ran(analyst_client, incident):
    page = page_of(analyst_client, incident)

    assert "No runbook has run on this incident." in page


def test_the_runbooks_section_shows_each_runs_path(analyst_client, sign_ins, committed):
    run = answered_no(committed, sign_ins)

    page = page_of(analyst_client, sign_ins)

    details = page[page.index(f'id="run-path-{run.pk}"') :]
    details = details[: details.index("</details>")]
    assert "<summary>Path taken</summary>" in details
    assert "flow-lane-taken" in details and "path-skipped" in details


def test_people_without_the_run_view_permission_see_no_runbook_card(client, sign_ins):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_securityincident"))
    client.force_login(user)

    page = page_of(client, sign_ins)

    assert 'id="summary-runbook"' not in page and "run-path-" not in page


def test_the_header_lists_unfinished_runs_first_and_counts_the_rest(
    analyst_client, shipped, open_with_runbooks, committed, as_analyst, monkeypatch
):
    import runbooks.selectors

    monkeypatch.setattr(runbooks.selectors, "HEADER_RUNS", 2)
    incident = open_with_runbooks("phishing")
    people = [PersonFactory() for _ in range(3)]
    committed(
        runs_start_for_people,
        actor=as_analyst,
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )

    page = page_of(analyst_client, incident)

    card = page[page.index('id="summary-runbook"') :]
    card = card[: card.index("</section>")]
    assert card.count('class="soc-header-run"') == 2
    assert "1 more run" in card and "(in all: 3 waiting for an answer)" in card


def test_the_incident_page_costs_the_same_with_one_run_or_many(
    analyst_client, shipped, open_with_runbooks, committed, as_analyst
):
    incident = open_with_runbooks("phishing")

    def query_count() -> int:
        with CaptureQueriesContext(connection) as queries:
            page_of(analyst_client, incident)
        return len(queries)

    def ask(n: int) -> None:
        committed(
            runs_start_for_people,
            actor=as_analyst,
            runbook=shipped["Phishing recipients"],
            incident=incident,
            people=[PersonFactory() for _ in range(n)],
        )

    ask(1)
    few = query_count()
    ask(8)
    assert query_count() == few
