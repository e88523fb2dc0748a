"""Which runbooks apply to an incident, what ran, and starting one by hand: the service,
the incident page's Runbooks section and the Start runbook page."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError
from incidents.groups import SOC_ANALYST
from incidents.models import SecurityIncident
from incidents.services import incident_transition, incident_update
from runbooks.models import RunbookRun
from runbooks.services import run_cancel, run_resume
from runbooks.starting import run_start_by_analyst, runs_start_for_people
from tests.factories import PersonFactory, UserFactory, category, open_incident

State = RunbookRun.State
Priority = SecurityIncident.Priority


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def phishing(shipped, open_with_runbooks) -> SecurityIncident:
    """A phishing incident: its only runbook, Phishing recipients, is started by hand."""
    return open_with_runbooks("phishing", short_description="Fake invoice email")


def page_of(client, incident) -> str:
    url = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    return client.get(url).content.decode()


def start_url(incident) -> str:
    return reverse("incident_start_runbook", args=[incident.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- the service ------------------------------------------------------------------------


def test_an_analyst_starts_a_manual_runbook_for_the_affected_user(
    shipped, phishing, committed, as_analyst
):
    assert not phishing.runbook_runs.exists()  # manual: opening the incident started nothing

    run = committed(
        run_start_by_analyst,
        actor=as_analyst,
        runbook=shipped["Phishing recipients"],
        incident=phishing,
    )

    run.refresh_from_db()
    assert (run.runbook.name, run.state, run.person, run.trigger_entry) == (
        "Phishing recipients",
        State.WAITING,
        None,
        None,
    )
    started = phishing.timeline.get(kind="runbook.started")
    assert started.summary == ("Runbook 'Phishing recipients' (version 1) started by Alice Analyst")
    assert (started.actor_kind, started.actor_user.username) == ("analyst", "alice")
    assert started.data["run"] == run.pk
    waiting = phishing.timeline.get(kind="runbook.waiting")
    assert waiting.summary.startswith("Waiting for Bob Builder to answer: Did you click")


def test_a_second_start_while_the_first_is_unfinished_is_refused(
    shipped, phishing, committed, as_analyst
):
    runbook = shipped["Phishing recipients"]
    first = committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)

    with pytest.raises(DomainError, match=rf"already on {phishing.number} \(run {first.pk}, "):
        run_start_by_analyst(actor=as_analyst, runbook=runbook, incident=phishing)

    assert phishing.runbook_runs.count() == 1
    assert phishing.timeline.filter(kind="runbook.started").count() == 1


def test_a_finished_run_does_not_stop_a_new_start(shipped, phishing, committed, as_analyst):
    runbook = shipped["Phishing recipients"]
    first = committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)
    committed(run_resume, run=first, outcome="no", actor=Actor.end_user("Bob"))
    first.refresh_from_db()
    assert first.state == State.COMPLETED

    second = committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)

    assert second.pk != first.pk
    assert phishing.runbook_runs.filter(state=State.WAITING).get() == second


def test_people_asked_by_ask_people_do_not_block_a_start_unless_one_is_the_affected_user(
    shipped, phishing, committed, as_analyst, bob
):
    runbook = shipped["Phishing recipients"]
    carol = PersonFactory(email="carol@corp.example.com")
    committed(
        runs_start_for_people, actor=as_analyst, runbook=runbook, incident=phishing, people=[carol]
    )

    committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)
    assert phishing.runbook_runs.count() == 2

    other = open_incident(category=category("phishing"), affected_user=bob)
    committed(
        runs_start_for_people, actor=as_analyst, runbook=runbook, incident=other, people=[bob]
    )
    with pytest.raises(DomainError, match="already on"):
        run_start_by_analyst(actor=as_analyst, runbook=runbook, incident=other)


def test_a_cancelled_run_does_not_stop_a_new_start(shipped, phishing, committed, as_analyst):
    runbook = shipped["Phishing recipients"]
    first = committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)
    run_cancel(run=first, actor=as_analyst)

    committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=phishing)

    assert phishing.runbook_runs.filter(state=State.WAITING).count() == 1


def test_a_runbook_that_does_not_apply_is_refused_and_nothing_is_written(
    shipped, phishing, as_analyst
):
    with pytest.raises(DomainError, match="does not apply to Phishing / 3 - Moderate"):
        run_start_by_analyst(
            actor=as_analyst, runbook=shipped["Failed sign-ins"], incident=phishing
        )

    assert not phishing.runbook_runs.exists()
    assert list(phishing.timeline.values_list("kind", flat=True)) == ["incident.opened"]


def test_an_inactive_runbook_a_closed_incident_and_a_missing_user_are_refused(
    shipped, open_with_runbooks, committed, as_analyst
):
    runbook = shipped["Phishing recipients"]
    nobody = open_with_runbooks("phishing", affected_user=None)
    closed = open_with_runbooks("phishing")
    incident_transition(actor=as_analyst, incident=closed, to_state="closed", reason="Spam")

    with pytest.raises(DomainError, match="has none: set the affected user first"):
        run_start_by_analyst(actor=as_analyst, runbook=runbook, incident=nobody)
    with pytest.raises(DomainError, match="is Closed"):
        run_start_by_analyst(actor=as_analyst, runbook=runbook, incident=closed)
    runbook.active = False
    runbook.save()
    with pytest.raises(DomainError, match="is not active"):
        run_start_by_analyst(actor=as_analyst, runbook=runbook, incident=nobody)

    assert not RunbookRun.objects.exists()


# --- creating by hand in the admin ------------------------------------------------------


def test_an_incident_added_in_the_admin_starts_its_automatic_runbooks(
    shipped, analyst_client, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst_client.post(
            reverse("admin:incidents_securityincident_add"),
            {
                "short_description": "Failed sign-ins for Bob",
                "description": "",
                "category": category("failed-login").pk,
                "priority": Priority.MODERATE,
                "affected_user": bob.pk,
                "external_reference": "",
                "tasks-TOTAL_FORMS": 0,
                "tasks-INITIAL_FORMS": 0,
            },
        )

    assert response.status_code == 302
    run = RunbookRun.objects.get()
    assert (run.runbook.name, run.state) == ("Failed sign-ins", State.WAITING)
    assert run.incident.timeline.filter(kind="runbook.started").exists()


# --- the Runbooks section of the incident page ------------------------------------------


def test_the_incident_page_names_the_manual_runbook_that_applies_and_how_to_start_it(
    analyst_client, phishing
):
    page = page_of(analyst_client, phishing)

    assert 'id="runbooks"' in page
    assert "Runbooks for Phishing / 3 - Moderate:" in page
    assert "Phishing recipients" in page and "Started by an analyst" in page
    assert "Not started here." in page
    assert f'href="{start_url(phishing)}"' in page
    assert "Start runbook…" in page and "Ask people…" in page
    assert "Failed sign-ins" not in page  # another category's runbook


def test_the_incident_page_shows_the_run_that_started_with_its_state_and_link(
    analyst_client, shipped, open_with_runbooks
):
    incident = open_with_runbooks("failed-login")
    run = incident.runbook_runs.get()

    page = page_of(analyst_client, incident)

    run_url = reverse("admin:runbooks_runbookrun_change", args=[run.pk])
    assert f'<a href="{run_url}">Run {run.pk}</a>:' in page
    assert "Waiting for an answer" in page
    assert "Incident opened, automatically" in page


def test_the_incident_page_says_plainly_when_no_runbook_matches(
    analyst_client, shipped, open_with_runbooks
):
    incident = open_with_runbooks("malware", priority=Priority.LOW)

    page = page_of(analyst_client, incident)

    assert "No runbook matches Malware / 4 - Low. Runbooks start on incidents" in page
    assert "Start runbook…" in page  # the action box; its page says the same
    assert f'<a class="button" href="{start_url(incident)}">' in page


def test_many_runs_are_counted_with_a_link_and_cost_no_more_queries(
    analyst_client, shipped, phishing, committed, as_analyst
):
    runbook = shipped["Phishing recipients"]
    people = [PersonFactory() for _ in range(20)]
    committed(
        runs_start_for_people, actor=as_analyst, runbook=runbook, incident=phishing,
        people=people[:4],
    )  # fmt: skip
    with CaptureQueriesContext(connection) as few:
        page_of(analyst_client, phishing)
    committed(
        runs_start_for_people, actor=as_analyst, runbook=runbook, incident=phishing,
        people=people[4:],
    )  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        page = page_of(analyst_client, phishing)

    assert len(many) == len(few)
    assert "17 more runs" in page
    assert "in all: 20 waiting for an answer" in page
    assert f"incident__id__exact={phishing.pk}&amp;runbook__id__exact={runbook.pk}" in page


def incidents_only_staff() -> UserFactory:
    """Staff who work incidents but have no permission on runbooks or their runs."""
    user = UserFactory(is_staff=True)
    analyst = Group.objects.get(name=SOC_ANALYST)
    user.user_permissions.add(*analyst.permissions.filter(content_type__app_label="incidents"))
    return user


def test_the_section_is_hidden_from_staff_who_may_not_see_runs(client, phishing):
    client.force_login(incidents_only_staff())

    page = page_of(client, phishing)

    assert phishing.number in page
    assert 'id="runbooks"' not in page and "Start runbook…" not in page


# --- the Start runbook page -------------------------------------------------------------


def test_the_start_page_offers_the_runbooks_that_apply_the_only_one_preselected(
    analyst_client, phishing
):
    response = analyst_client.get(start_url(phishing))

    page = response.content.decode()
    assert response.status_code == 200
    choices = response.context["form"].fields["runbook"].queryset
    assert [r.name for r in choices] == ["Phishing recipients"]
    assert response.context["form"].fields["runbook"].initial == choices[0].pk
    assert "Bob Builder &lt;bob@corp.example.com&gt;" in page
    assert f"Start a runbook on {phishing.number}" in page


def test_starting_from_the_page_creates_the_run_once_for_a_double_submit(
    analyst_client, shipped, phishing, django_capture_on_commit_callbacks
):
    runbook = shipped["Phishing recipients"]
    with django_capture_on_commit_callbacks(execute=True):
        first = analyst_client.post(start_url(phishing), {"runbook": runbook.pk}, follow=True)
    second = analyst_client.post(start_url(phishing), {"runbook": runbook.pk}, follow=True)

    run = phishing.runbook_runs.get()
    assert run.state == State.WAITING
    assert first.redirect_chain[-1][0].endswith(f"/{phishing.pk}/change/#runbooks")
    assert messages_of(first) == [f"Runbook 'Phishing recipients' started (run {run.pk})."]
    assert messages_of(second) == [
        f"The runbook 'Phishing recipients' is already on {phishing.number} (run {run.pk}, "
        "waiting for an answer); nothing was started."
    ]
    started = phishing.timeline.get(kind="runbook.started")
    assert started.actor_user.username == "alice"


def test_a_runbook_that_does_not_apply_cannot_be_posted(analyst_client, shipped, phishing):
    response = analyst_client.post(start_url(phishing), {"runbook": shipped["Failed sign-ins"].pk})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not phishing.runbook_runs.exists()


def test_the_start_page_says_so_when_no_runbook_applies(
    analyst_client, shipped, open_with_runbooks
):
    incident = open_with_runbooks("malware", priority=Priority.LOW)

    page = analyst_client.get(start_url(incident)).content.decode()

    assert "No runbook matches Malware / 4 - Low, so there is none to start." in page


def test_only_who_works_incidents_and_operates_runs_may_start_one(client, shipped, phishing):
    client.force_login(incidents_only_staff())
    runbook = shipped["Phishing recipients"]

    assert client.get(start_url(phishing)).status_code == 403
    assert client.post(start_url(phishing), {"runbook": runbook.pk}).status_code == 403
    assert not phishing.runbook_runs.exists()


def test_an_automatic_runbook_that_applies_only_after_opening_can_be_started(
    analyst_client, shipped, open_with_runbooks, committed, as_analyst
):
    incident = open_with_runbooks("malware")
    incident_update(actor=as_analyst, incident=incident, category=category("failed-login"))

    page = page_of(analyst_client, incident)
    assert "Failed sign-ins" in page and "Incident opened, automatically" in page
    assert "this one did not match then" in page
    runbook = shipped["Failed sign-ins"]
    run = committed(run_start_by_analyst, actor=as_analyst, runbook=runbook, incident=incident)
    run.refresh_from_db()
    assert run.state == State.WAITING
