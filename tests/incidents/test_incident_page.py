"""The incident page's summary header (incidents' own facts and the open tasks), its
evidence section and its one-Save form."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import incidents.admin.incident_page
from incidents.models import Evidence, SecurityIncident
from incidents.services import evidence_add, incident_add_note, task_create, task_transition
from incidents.timeline import timeline_record
from mailflow.timeline_kinds import REQUEST_LINK_CHECKED
from tests.factories import AnalystFactory, UserFactory

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
State = SecurityIncident.State


@pytest.fixture
def client_as_analyst(client, analyst):
    client.force_login(analyst)
    return client


def change_url(incident) -> str:
    return reverse("admin:incidents_securityincident_change", args=[incident.pk])


def section(page: str, element_id: str) -> str:
    """The HTML of the <section> or <h2> with that id up to the next section's end."""
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</section>", start)]


def add_png(incident, actor, name: str = "screen.png", **kwargs) -> Evidence:
    return evidence_add(
        actor=actor,
        incident=incident,
        content=PNG,
        filename=name,
        source=Evidence.Source.ANALYST_UPLOAD,
        **kwargs,
    )


# --- the header -----------------------------------------------------------------------------


def test_the_header_states_where_the_case_stands_above_the_form(
    client_as_analyst, incident, analyst
):
    SecurityIncident.objects.filter(pk=incident.pk).update(
        state=State.ANALYSIS, priority=SecurityIncident.Priority.HIGH, assigned_to=analyst
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    facts = section(page, "summary-incident")
    assert re.search(r'id="summary-state">Analysis<', facts)
    assert re.search(r'id="summary-priority">2 - High<', facts)
    assert "Alice Analyst" in facts
    affected = section(page, "summary-affected")
    assert "Bob Builder &lt;bob@corp.example.com&gt;" in affected
    assert "LAPTOP-BOB" in affected
    assert page.index('id="summary"') < page.index('id="securityincident_form"')


def test_the_header_lists_open_tasks_due_first_with_assignee_and_due_time(
    client_as_analyst, incident, as_analyst, analyst
):
    now = timezone.now()
    task_create(actor=as_analyst, incident=incident, title="Undated task")
    task_create(
        actor=as_analyst,
        incident=incident,
        title="Late task",
        assignee=analyst,
        due_at=now - timedelta(hours=1),
    )
    task_create(
        actor=as_analyst, incident=incident, title="Soon task", due_at=now + timedelta(hours=2)
    )
    done = task_create(actor=as_analyst, incident=incident, title="Finished task")
    task_transition(actor=as_analyst, task=done, to_state="completed")

    tasks = section(client_as_analyst.get(change_url(incident)).content.decode(), "summary-tasks")

    assert tasks.index("Late task") < tasks.index("Soon task") < tasks.index("Undated task")
    assert "Finished task" not in tasks
    late = tasks[tasks.index("Late task") : tasks.index("Soon task")]
    assert "Alice Analyst" in late and 'class="soc-overdue"' in late and "overdue since" in late
    soon = tasks[tasks.index("Soon task") : tasks.index("Undated task")]
    assert "unassigned" in soon and "due <time" in soon


def test_the_header_links_to_every_task_when_there_are_more_than_it_shows(
    client_as_analyst, incident, as_analyst, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident_page, "OPEN_TASKS_SHOWN", 2)
    for n in range(3):
        task_create(actor=as_analyst, incident=incident, title=f"Task {n}")

    tasks = section(client_as_analyst.get(change_url(incident)).content.decode(), "summary-tasks")

    assert "Task 1" in tasks and "Task 2" not in tasks
    assert f"/admin/incidents/responsetask/?q={incident.number}" in tasks


def test_below_the_form_the_newest_tasks_are_listed_with_a_link_to_all(
    client_as_analyst, incident, as_analyst, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident_page, "TASKS_SHOWN", 2)
    first = task_create(actor=as_analyst, incident=incident, title="Oldest task")
    task_transition(actor=as_analyst, task=first, to_state="completed")
    for n in range(2):
        task_create(actor=as_analyst, incident=incident, title=f"Newer task {n}")

    page = client_as_analyst.get(change_url(incident)).content.decode()
    tasks = page[page.index('id="tasks"') : page.index('id="evidence"')]

    assert page.index('id="tasks"') > page.index("</form>")
    assert "Newer task 0" in tasks and "Newer task 1" in tasks
    assert "Oldest task" not in tasks
    assert f"/admin/incidents/responsetask/?q={incident.number}" in tasks


# --- the form -------------------------------------------------------------------------------


def test_the_form_has_the_editable_fields_and_one_save(client_as_analyst, incident):
    page = client_as_analyst.get(change_url(incident)).content.decode()
    form = page[page.index('id="securityincident_form"') :]
    form = form[: form.index("</form>")]

    assert 'name="short_description"' in form and 'name="priority"' in form
    assert 'name="affected_user"' in form and 'name="affected_ci"' in form
    assert re.findall(r'type="submit"[^>]*name="(\w+)"', form) == ["_save"]


def test_saving_the_form_stays_on_the_incident_and_goes_through_the_service(
    client_as_analyst, incident
):
    response = client_as_analyst.post(
        change_url(incident),
        {
            "short_description": "Sign-ins from two countries",
            "description": "",
            "category": incident.category.pk,
            "priority": SecurityIncident.Priority.HIGH,
            "affected_user": incident.affected_user.pk,
            "affected_ci": incident.affected_ci.pk,
            "external_reference": "",
            "tasks-TOTAL_FORMS": "0",
            "tasks-INITIAL_FORMS": "0",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == change_url(incident)
    incident.refresh_from_db()
    assert incident.priority == SecurityIncident.Priority.HIGH
    assert incident.timeline.get(kind="incident.updated").data["changes"]


# --- evidence -------------------------------------------------------------------------------


def test_evidence_shows_a_thumbnail_and_what_to_check_before_opening(
    client_as_analyst, incident, as_analyst
):
    evidence = add_png(
        incident,
        as_analyst,
        provenance={"channel": "answer_page", "sender": "bob@corp.example.com", "flags": []},
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    item = page[page.index(f'id="evidence-{evidence.pk}"') :]
    item = item[: item.index("</li>")]
    preview = reverse("admin:incidents_evidence_preview", args=[evidence.pk])
    assert f'<img src="{preview}"' in item
    assert "screen.png" in item and "72\xa0bytes" in item
    assert evidence.sha256[:16] in item and evidence.sha256 not in item.replace(
        f'title="{evidence.sha256}"', ""
    )
    assert "Analyst upload" in item
    assert "<dt>Channel</dt><dd>answer page</dd>" in item
    assert "<dt>Sender</dt><dd>bob@corp.example.com</dd>" in item
    assert "Flags" not in item  # nothing to say
    assert "{" not in item  # never raw JSON
    assert "Quarantined" not in item


def test_quarantined_evidence_has_a_badge_and_no_thumbnail(client_as_analyst, incident, as_analyst):
    evidence = evidence_add(
        actor=as_analyst,
        incident=incident,
        content=b"MZ\x90\x00 a program",
        filename="invoice.pdf.exe",
        source=Evidence.Source.EMAIL_REPLY,
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    item = page[page.index(f'id="evidence-{evidence.pk}"') :]
    item = item[: item.index("</li>")]
    assert '<span class="soc-badge soc-badge-quarantined">Quarantined</span>' in item
    assert "a .exe file can run code when opened" in item
    assert "<img" not in item and "No preview: quarantined" in item
    assert "invoice.pdf.exe.quarantined" in item


def test_hostile_filenames_and_provenance_are_shown_as_text(
    client_as_analyst, incident, as_analyst
):
    add_png(
        incident,
        as_analyst,
        name="<img src=x onerror=alert(1)>.png",
        provenance={"user_agent": "<script>alert(2)</script>"},
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_many_evidence_files_are_capped_with_a_link_to_the_list(
    client_as_analyst, incident, as_analyst, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident_page, "EVIDENCE_SHOWN", 2)
    for n in range(3):
        add_png(incident, as_analyst, name=f"shot-{n}.png")

    page = client_as_analyst.get(change_url(incident)).content.decode()
    evidence = page[page.index('id="evidence"') : page.index('id="timeline"')]

    assert "shot-2.png" in evidence and "shot-1.png" in evidence
    assert "shot-0.png" not in evidence
    assert f"/admin/incidents/evidence/?q={incident.number}" in evidence


def test_thumbnails_need_the_evidence_view_permission(client, incident, as_analyst):
    from django.contrib.auth.models import Permission

    add_png(incident, as_analyst)
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_securityincident"))
    client.force_login(user)

    page = client.get(change_url(incident)).content.decode()

    assert "/preview/" not in page


# --- cost -----------------------------------------------------------------------------------


def test_the_incident_page_costs_the_same_queries_however_much_the_case_gathered(
    client_as_analyst, incident, as_analyst
):
    def query_count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client_as_analyst.get(change_url(incident)).status_code == 200
        return len(queries)

    def gather(n: int) -> None:
        for i in range(n):
            task_create(
                actor=as_analyst,
                incident=incident,
                title=f"Task {i}",
                assignee=AnalystFactory(),
                due_at=timezone.now(),
            )
            add_png(incident, as_analyst, name=f"shot-{i}.png", provenance={"sender": "x"})
            incident_add_note(actor=as_analyst, incident=incident, text=f"Note {i}")
            timeline_record(
                incident=incident, kind=REQUEST_LINK_CHECKED, actor=as_analyst, summary="Visit"
            )

    gather(1)
    few = query_count()
    gather(12)
    assert query_count() == few
