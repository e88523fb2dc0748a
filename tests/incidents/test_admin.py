import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.actors import Actor
from incidents.models import Evidence, ResponseTask, SecurityIncident
from incidents.services import evidence_add, incident_add_note, task_create
from incidents.timeline import timeline_record
from mailflow.models import ConfirmationRequest, InboundEmail
from mailflow.timeline_kinds import ANSWER_RECEIVED
from runbooks.files import import_shipped_runbooks
from tests.factories import AnalystFactory, PersonFactory, UserFactory, category, open_incident

State = SecurityIncident.State
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def client_as_analyst(client, analyst):
    client.force_login(analyst)
    return client


def change_url(incident) -> str:
    return reverse("admin:incidents_securityincident_change", args=[incident.pk])


def action_url(incident, name: str) -> str:
    return reverse(f"admin:incidents_securityincident_{name}", args=[incident.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- changelist -------------------------------------------------------------------------


def test_the_incident_list_costs_the_same_queries_for_3_or_30_incidents(
    client_as_analyst, bob, analyst
):
    url = reverse("admin:incidents_securityincident_changelist")

    def query_count() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client_as_analyst.get(url)
        assert response.status_code == 200
        return len(queries)

    for _ in range(3):
        open_incident(affected_user=bob, assigned_to=analyst)
    few = query_count()
    for _ in range(27):
        open_incident(affected_user=bob, assigned_to=analyst)
    many = query_count()

    assert many == few


def test_the_incident_list_searches_by_affected_users_email(client_as_analyst, bob):
    mine = open_incident(affected_user=bob, short_description="Bob's sign-ins")
    open_incident(short_description="Someone else")

    response = client_as_analyst.get(
        reverse("admin:incidents_securityincident_changelist"), {"q": "bob@corp.example.com"}
    )

    assert list(response.context["cl"].result_list) == [mine]


# --- incident page ----------------------------------------------------------------------


def test_the_incident_page_shows_directory_details_and_the_timeline_newest_first(
    client_as_analyst, incident, as_analyst
):
    incident_add_note(actor=as_analyst, incident=incident, text="Called the user.")
    evidence_add(
        actor=as_analyst,
        incident=incident,
        content=PNG,
        filename="screen.png",
        source=Evidence.Source.ANALYST_UPLOAD,
    )

    response = client_as_analyst.get(change_url(incident))

    page = response.content.decode()
    assert "bob@corp.example.com" in page and "LAPTOP-BOB" in page
    timeline = page[page.index('id="timeline"') :]
    opened, note, evidence = (
        timeline.index("Incident opened"),
        timeline.index("Called the user."),
        timeline.index("Download screen.png"),
    )
    assert evidence < note < opened
    preview = reverse("admin:incidents_evidence_preview", args=[Evidence.objects.get().pk])
    assert f'src="{preview}"' in page


def test_the_timeline_names_each_kind_by_its_label_with_the_raw_name_only_in_its_tooltip(
    client_as_analyst, incident
):
    timeline_record(
        incident=incident,
        kind=ANSWER_RECEIVED,
        actor=Actor.end_user("Bob"),
        summary="Bob answered “Yes, it was me”",
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    assert re.search(
        r'<span class="soc-kind-label" title="incident\.opened">Incident opened<', page
    )
    assert re.search(
        r'<span class="soc-kind-label" title="answer\.received">Answer received<', page
    )
    assert not re.search(r">\s*answer\.received\s*<", page)  # never shown as text


def test_the_timeline_list_shows_labels_and_filters_by_kind(client_as_analyst, incident):
    incident_add_note(actor=Actor.system(), incident=incident, text="Called the user.")
    url = reverse("admin:incidents_timelineentry_changelist")

    page = client_as_analyst.get(url, {"kind": "note.added"}).content.decode()

    assert '<code class="soc-kind">note.added</code>' in page
    assert "incident.opened</code>" not in page
    # Every registered kind is offered by its label, the other apps' kinds too.
    assert "Answer received" in page and "Email sent" in page and "Runbook started" in page


def test_hostile_text_on_the_timeline_is_shown_inert(client_as_analyst, incident, as_analyst):
    incident_add_note(
        actor=as_analyst, incident=incident, text="<script>alert(1)</script><img src=x onerror=a>"
    )
    evidence_add(
        actor=as_analyst,
        incident=incident,
        content=b"hello",
        filename='"><svg onload=alert(1)>.txt',
        source=Evidence.Source.ANALYST_UPLOAD,
    )

    page = client_as_analyst.get(change_url(incident)).content.decode()

    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_adding_an_incident_in_the_admin_goes_through_incident_open(client_as_analyst, bob):
    response = client_as_analyst.post(
        reverse("admin:incidents_securityincident_add"),
        {
            "short_description": "Suspicious download",
            "description": "",
            "category": category("policy-violation").pk,
            "priority": 2,
            "affected_user": bob.pk,
            "external_reference": "",
            "tasks-TOTAL_FORMS": 0,
            "tasks-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302
    incident = SecurityIncident.objects.get()
    assert incident.number == "SIR0001001"
    entry = incident.timeline.get()
    assert entry.kind == "incident.opened"
    assert entry.actor_user.username == "alice"


def test_editing_an_incident_writes_the_change_and_assignment_to_the_timeline(
    client_as_analyst, incident, analyst
):
    response = client_as_analyst.post(
        change_url(incident),
        {
            "short_description": incident.short_description,
            "description": incident.description,
            "category": incident.category_id,
            "priority": 1,
            "assigned_to": analyst.pk,
            "affected_user": incident.affected_user_id,
            "affected_ci": incident.affected_ci_id,
            "external_reference": "",
            "tasks-TOTAL_FORMS": 0,
            "tasks-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.priority, incident.assigned_to) == (1, analyst)
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == ["incident.opened", "incident.updated", "incident.assigned"]


# --- actions on the incident page -------------------------------------------------------


def test_the_transition_action_changes_state_through_the_service(client_as_analyst, incident):
    response = client_as_analyst.post(
        action_url(incident, "transition"), {"to_state": "analysis"}, follow=True
    )

    incident.refresh_from_db()
    assert incident.state == State.ANALYSIS
    assert incident.timeline.filter(kind="incident.state_changed").count() == 1
    assert f"{incident.number} moved to Analysis." in messages_of(response)


def test_closing_without_a_reason_shows_the_domain_error_and_changes_nothing(
    client_as_analyst, incident
):
    response = client_as_analyst.post(
        action_url(incident, "transition"), {"to_state": "closed", "reason": ""}, follow=True
    )

    assert response.status_code == 200
    incident.refresh_from_db()
    assert incident.state == State.DRAFT
    assert any("Give a reason" in m for m in messages_of(response))
    assert not incident.timeline.filter(kind="incident.state_changed").exists()


def test_a_transition_the_map_forbids_is_refused_as_an_invalid_choice(client_as_analyst, incident):
    response = client_as_analyst.post(
        action_url(incident, "transition"), {"to_state": "recover"}, follow=True
    )

    incident.refresh_from_db()
    assert incident.state == State.DRAFT
    assert any("valid choice" in m for m in messages_of(response))


def test_the_note_task_and_evidence_actions_write_the_timeline(
    client_as_analyst, incident, analyst, settings
):
    client_as_analyst.post(action_url(incident, "note"), {"text": "Spoke to Bob."})
    client_as_analyst.post(
        action_url(incident, "task"), {"title": "Reset credentials", "assignee": analyst.pk}
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    client_as_analyst.post(
        action_url(incident, "evidence"),
        {"file": SimpleUploadedFile("proof.png", PNG, content_type="image/png")},
    )

    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == ["incident.opened", "note.added", "task.created", "evidence.added"]
    task = ResponseTask.objects.get()
    assert (task.title, task.assignee, task.created_by_user) == (
        "Reset credentials",
        analyst,
        analyst,
    )
    evidence = Evidence.objects.get()
    assert evidence.provenance == {"uploaded_by": "alice", "channel": "admin"}
    assert evidence.source == Evidence.Source.ANALYST_UPLOAD


def test_actions_need_a_post_and_the_change_permission(client, incident):
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)

    assert client.get(action_url(incident, "note")).status_code == 404
    assert client.post(action_url(incident, "note"), {"text": "x"}).status_code == 403
    assert incident.timeline.count() == 1


# --- tasks ------------------------------------------------------------------------------


def test_the_task_page_transition_goes_through_the_service(client_as_analyst, incident):
    task = task_create(actor=Actor.system(), incident=incident, title="Reset credentials")
    url = reverse("admin:incidents_responsetask_transition", args=[task.pk])

    client_as_analyst.post(url, {"to_state": "completed", "reason": "Done by phone"})
    response = client_as_analyst.post(url, {"to_state": "cancelled"}, follow=True)

    task.refresh_from_db()
    assert task.state == ResponseTask.State.COMPLETED
    assert incident.timeline.get(kind="task.completed").body == "Done by phone"
    assert any("valid choice" in m for m in messages_of(response))


def test_bulk_completing_tasks_reports_each_refusal(client_as_analyst, incident):
    done = task_create(actor=Actor.system(), incident=incident, title="Already done")
    open_task = task_create(actor=Actor.system(), incident=incident, title="Still open")
    client_as_analyst.post(
        reverse("admin:incidents_responsetask_transition", args=[done.pk]),
        {"to_state": "cancelled"},
    )

    response = client_as_analyst.post(
        reverse("admin:incidents_responsetask_changelist"),
        {"action": "complete", "_selected_action": [done.pk, open_task.pk]},
        follow=True,
    )

    open_task.refresh_from_db()
    done.refresh_from_db()
    assert open_task.state == ResponseTask.State.COMPLETED
    assert done.state == ResponseTask.State.CANCELLED
    assert any("cannot move from Cancelled to Completed" in m for m in messages_of(response))


# --- evidence download ------------------------------------------------------------------


@pytest.fixture
def evidence(incident):
    return evidence_add(
        actor=Actor.end_user("Bob"),
        incident=incident,
        content=b"<html><script>alert(1)</script></html>",
        filename="page.html",
        source=Evidence.Source.ANSWER_PAGE,
    )


def test_evidence_is_served_to_analysts_only_as_an_attachment(client_as_analyst, evidence):
    response = client_as_analyst.get(
        reverse("admin:incidents_evidence_download", args=[evidence.pk])
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    # HTML is quarantined: it downloads under a name that opens nothing on a double click.
    assert 'filename="page.html.quarantined"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == b"<html><script>alert(1)</script></html>"


def test_evidence_download_is_refused_to_anonymous_and_non_staff_users(client, evidence):
    url = reverse("admin:incidents_evidence_download", args=[evidence.pk])

    anonymous = client.get(url)
    client.force_login(UserFactory(is_staff=False))
    employee = client.get(url)

    for response in (anonymous, employee):
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]


def test_evidence_download_is_refused_to_staff_without_the_permission(client, evidence):
    client.force_login(UserFactory(is_staff=True))
    url = reverse("admin:incidents_evidence_download", args=[evidence.pk])
    assert client.get(url).status_code == 403


def test_only_images_identified_by_their_bytes_get_an_inline_preview(
    client_as_analyst, incident, evidence
):
    image = evidence_add(
        actor=Actor.end_user("Bob"),
        incident=incident,
        content=PNG,
        filename="screenshot",  # no extension: the bytes say PNG
        source=Evidence.Source.ANSWER_PAGE,
    )

    html_preview = client_as_analyst.get(
        reverse("admin:incidents_evidence_preview", args=[evidence.pk])
    )
    png_preview = client_as_analyst.get(
        reverse("admin:incidents_evidence_preview", args=[image.pk])
    )

    assert html_preview.status_code == 404
    assert png_preview.status_code == 200
    assert png_preview["Content-Type"] == "image/png"
    assert png_preview["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in png_preview["Content-Security-Policy"]


def test_the_analyst_group_can_work_incidents_but_not_delete_them(client, incident):
    member = AnalystFactory()
    client.force_login(member)

    assert member.has_perm("incidents.change_securityincident")
    assert member.has_perm("incidents.add_evidence")
    assert not member.has_perm("incidents.delete_securityincident")
    delete = reverse("admin:incidents_securityincident_delete", args=[incident.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert SecurityIncident.objects.filter(pk=incident.pk).exists()


# --- invisible characters ---------------------------------------------------------------

RLO, ZWSP = "\u202e", "\u200b"
TITLE = f"Payment for invoice{RLO}fdp.exe"
SHOWN_TITLE = "Payment for invoice⟨U+202E⟩fdp.exe"
SHOWN_NAME = "Eve⟨U+200B⟩ Mallory"


@pytest.fixture
def disguised(db, django_capture_on_commit_callbacks, as_analyst):
    """An incident, its person, task, question, evidence and a reply, whose title and
    names carry a right-to-left override and a zero-width space."""
    import_shipped_runbooks()
    eve = PersonFactory(email="eve@corp.example.com", first_name=f"Eve{ZWSP}", last_name="Mallory")
    with django_capture_on_commit_callbacks(execute=True):
        incident = open_incident(
            category=category("failed-login"), affected_user=eve, short_description=TITLE
        )
    task_create(actor=as_analyst, incident=incident, title=f"Call Eve{ZWSP} about {TITLE}")
    evidence_add(
        actor=as_analyst, incident=incident, content=b"hello", filename="notes.txt",
        source=Evidence.Source.ANALYST_UPLOAD,
    )  # fmt: skip
    InboundEmail.objects.create(
        provider="postmark", dedupe_key="disguised", from_header=f'"Eve{ZWSP}" <{eve.email}>',
        subject=f"Re: {TITLE}", incident=incident,
    )  # fmt: skip
    return incident


def visible_text(page: str) -> str:
    """The page without the values of its form fields (kept as stored, see below)."""
    return re.sub(r"<input[^>]*>|<textarea.*?</textarea>", "", page, flags=re.DOTALL)


@pytest.mark.parametrize(
    "page",
    [
        "incidents_securityincident_changelist", "incidents_securityincident_change",
        "incidents_securityincident_timeline", "incidents_person_changelist",
        "incidents_person_change", "incidents_responsetask_changelist",
        "incidents_responsetask_change", "incidents_evidence_changelist",
        "incidents_evidence_change", "incidents_timelineentry_changelist",
        "mailflow_confirmationrequest_changelist", "mailflow_confirmationrequest_change",
        "mailflow_inboundemail_changelist", "mailflow_inboundemail_change",
    ],
)  # fmt: skip
def test_analyst_pages_show_bidi_and_zero_width_characters_instead_of_obeying_them(
    client_as_analyst, disguised, page
):
    objects = {
        "securityincident": disguised,
        "person": disguised.affected_user,
        "responsetask": disguised.tasks.get(created_by_kind="analyst"),
        "evidence": disguised.evidence.get(),
        "confirmationrequest": ConfirmationRequest.objects.get(),
        "inboundemail": InboundEmail.objects.get(),
    }
    model = page.split("_")[1]
    args = [] if page.endswith("changelist") else [objects[model].pk]

    response = client_as_analyst.get(reverse(f"admin:{page}", args=args))

    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert RLO not in text and ZWSP not in text
    assert SHOWN_TITLE in text or SHOWN_NAME in text


def test_the_incident_page_marks_the_title_and_name_but_keeps_the_form_value_intact(
    client_as_analyst, disguised
):
    page = client_as_analyst.get(change_url(disguised)).content.decode()

    assert f'value="{TITLE}"' in page  # the form edits what is stored
    assert f"Contains invisible characters: {SHOWN_TITLE}" in page  # under the field
    assert f"{SHOWN_NAME} &lt;eve@corp.example.com&gt;" in page  # the directory details
    assert f"{disguised.number} {SHOWN_TITLE}" in page  # the heading


def test_saving_the_incident_form_unchanged_keeps_the_invisible_characters(
    client_as_analyst, disguised
):
    page = client_as_analyst.get(change_url(disguised)).content.decode()
    fields = dict(re.findall(r'<input type="text" name="(\w+)" value="([^"]*)"', page))

    response = client_as_analyst.post(
        change_url(disguised),
        {
            "short_description": html.unescape(fields["short_description"]),
            "description": disguised.description,
            "category": disguised.category.pk,
            "priority": disguised.priority,
            "affected_user": disguised.affected_user.pk,
            "external_reference": "",
            "responsetask_set-TOTAL_FORMS": "0",
            "responsetask_set-INITIAL_FORMS": "0",
            "tasks-TOTAL_FORMS": "0",
            "tasks-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, visible_text(response.content.decode())[-3000:]
    disguised.refresh_from_db()
    assert disguised.short_description == TITLE
    assert not disguised.timeline.filter(kind="incident.updated").exists()


def test_the_person_autocomplete_shows_markers(client_as_analyst, disguised):
    response = client_as_analyst.get(
        reverse("admin:autocomplete"),
        {"term": "Mallory", "app_label": "incidents", "model_name": "securityincident",
         "field_name": "affected_user"},
    )  # fmt: skip

    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == [
        f"{SHOWN_NAME} <eve@corp.example.com>"
    ]


def number_header(request, incident):
    """A header panel for the test below, named in INCIDENT_PAGE_PANELS."""
    from incidents.admin.panels import Panel

    return Panel("admin/incidents/test_header_panel.html", {"number": incident.number}, "header")


def test_a_header_panel_shows_above_the_incident_form(
    client_as_analyst, incident, settings, tmp_path
):
    (tmp_path / "admin" / "incidents").mkdir(parents=True)
    (tmp_path / "admin" / "incidents" / "test_header_panel.html").write_text(
        '<p id="test-header">Header: {{ panel.number }}</p>'
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}
    ]
    settings.INCIDENT_PAGE_PANELS = [
        *settings.INCIDENT_PAGE_PANELS,
        "tests.incidents.test_admin.number_header",
    ]

    page = client_as_analyst.get(change_url(incident)).content.decode()

    assert page.index('id="test-header"') < page.index('id="securityincident_form"')
