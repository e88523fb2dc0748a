import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from runbooks.definitions import runbook_definition
from runbooks.files import SHIPPED_RUNBOOKS_DIR, runbook_export
from runbooks.models import Runbook, RunbookRun, RunbookStep, StepResult
from tests.admin_history import admin_history
from tests.builders.runbook_forms import change_url, existing, form_data, step_form_errors
from tests.factories import UserFactory, open_incident
from tests.rendered_forms import form_as_posted
from tests.runbooks.conftest import ASK, NOTE_YES, TASK

FILES = {"Failed sign-ins": "failed-sign-ins.yaml",
         "Suspicious file download": "suspicious-download.yaml"}  # fmt: skip


# --- authoring --------------------------------------------------------------------------


def test_an_author_adds_a_runbook_with_its_steps_and_it_is_version_1(author_client):
    response = author_client.post(
        reverse("admin:runbooks_runbook_add"), form_data([TASK, ASK, NOTE_YES])
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    runbook = Runbook.objects.get()
    assert runbook.version == 1
    assert [s.action for s in runbook.steps.order_by("position")] == [
        "create_task",
        "ask_user",
        "add_note",
    ]
    ask = runbook.steps.get(action="ask_user")
    assert ask.params["deadline_hours"] == 72  # saved with the defaults filled in
    assert runbook.steps.get(action="add_note").guard_outcomes == ["yes"]
    page = author_client.get(change_url(runbook)).content.decode()
    assert 'role="img"' in page and "3. Add a work note" in page


def test_changing_a_step_bumps_the_version(author_client, runbook):
    steps = existing(runbook)
    steps[0]["params"] = {"title": "Look at the sign-ins"}

    response = author_client.post(change_url(runbook), form_data(steps, runbook))

    assert response.status_code == 302
    runbook.refresh_from_db()
    assert runbook.version == 2
    assert runbook.steps.get(position=0).params["title"] == "Look at the sign-ins"


def test_saving_without_changes_keeps_the_version(author_client, runbook):
    response = author_client.post(change_url(runbook), form_data(existing(runbook), runbook))

    assert response.status_code == 302
    runbook.refresh_from_db()
    assert runbook.version == 1


def test_swapping_two_positions_and_deleting_a_step_saves(author_client, runbook):
    task, ask, note = existing(runbook)
    task["position"], note["delete"] = 1, True
    ask["position"] = 0

    response = author_client.post(change_url(runbook), form_data([task, ask, note], runbook))

    assert response.status_code == 302
    assert [s["action"] for s in runbook_definition(runbook)["steps"]] == [
        "ask_user",
        "create_task",
    ]


@pytest.mark.parametrize("name", ["Failed sign-ins", "Suspicious file download"])
def test_saving_a_shipped_runbook_as_the_page_shows_it_saves_and_keeps_the_version(
    author_client, shipped, name
):
    runbook = shipped[name]
    page = author_client.get(change_url(runbook)).content.decode()

    response = author_client.post(
        change_url(runbook), form_as_posted(page, "runbook_form", button="_save")
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    runbook.refresh_from_db()
    assert runbook.version == 1
    assert runbook_export(runbook) == (SHIPPED_RUNBOOKS_DIR / FILES[name]).read_text()
    action, _user, message = admin_history(runbook)[-1]
    assert (action, message) == ("changed", "No fields changed.")


def test_adding_a_runbook_on_the_add_page_as_rendered_makes_version_1(author_client):
    page = author_client.get(reverse("admin:runbooks_runbook_add")).content.decode()
    data = form_as_posted(page, "runbook_form", button="_save")
    data |= {
        "name": ["Lost laptop"],
        "steps-0-position": ["1"],
        "steps-0-action": ["create_task"],
        "steps-0-param__create_task__title": ["Locate the device"],
    }

    response = author_client.post(reverse("admin:runbooks_runbook_add"), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    runbook = Runbook.objects.get(name="Lost laptop")
    assert runbook.version == 1
    assert [(s.position, s.action) for s in runbook.steps.all()] == [(1, "create_task")]


def test_a_filled_extra_row_is_still_validated(author_client, shipped):
    runbook = shipped["Failed sign-ins"]
    page = author_client.get(change_url(runbook)).content.decode()
    data = form_as_posted(page, "runbook_form", button="_save")
    extra = int(data["steps-TOTAL_FORMS"][0]) - 1  # the blank row after the steps
    data[f"steps-{extra}-position"] = [str(extra + 1)]
    data[f"steps-{extra}-action"] = ["create_task"]

    response = author_client.post(change_url(runbook), data)

    assert response.status_code == 200
    errors = step_form_errors(response, extra)
    assert errors["param__create_task__title"] == ["This field is required."]
    runbook.refresh_from_db()
    assert runbook.version == 1 and runbook.steps.count() == extra


@pytest.mark.parametrize(
    ("bad_step", "field", "message"),
    [
        (
            {"action": "add_note", "params": {"text": "Hello {nope}"}},
            "param__add_note__text",
            "unknown placeholder {nope}",
        ),
        (
            {"action": "create_task", "params": {}},
            "param__create_task__title",
            "This field is required.",
        ),
        (
            {"action": "add_note", "guard": "answer_in", "outcomes": ["maybe"],
             "params": {"text": "x"}},
            "guard_outcomes",
            "'maybe' is not an option of the question before it",
        ),
        (
            {"action": "add_note", "guard": "no_answer", "outcomes": ["yes"],
             "params": {"text": "x"}},
            "guard",
            "takes no list of outcomes",
        ),
    ],
)  # fmt: skip
def test_a_bad_step_shows_the_error_beside_its_field_and_saves_nothing(
    author_client, bad_step, field, message
):
    response = author_client.post(
        reverse("admin:runbooks_runbook_add"), form_data([TASK, ASK, bad_step])
    )

    assert response.status_code == 200
    errors = step_form_errors(response, 2)
    assert message in " ".join(errors[field])
    assert not step_form_errors(response, 0) and not step_form_errors(response, 1)
    assert not Runbook.objects.exists() and not RunbookStep.objects.exists()


def test_a_guard_without_a_question_before_it_is_shown_on_the_guard(author_client):
    response = author_client.post(reverse("admin:runbooks_runbook_add"), form_data([NOTE_YES, ASK]))

    assert response.status_code == 200
    assert "needs an ask_user or ask_approval step before it" in " ".join(
        step_form_errors(response, 0)["guard"]
    )


def test_two_steps_at_the_same_position_are_refused(author_client):
    response = author_client.post(
        reverse("admin:runbooks_runbook_add"),
        form_data([TASK | {"position": 1}, ASK | {"position": 1}]),
    )

    assert response.status_code == 200
    assert "Another step already has position 1." in step_form_errors(response, 1)["position"]
    assert not Runbook.objects.exists()


def test_a_runbook_needs_at_least_one_step(author_client):
    response = author_client.post(reverse("admin:runbooks_runbook_add"), form_data([]))

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "a runbook needs at least one step" in formset.non_form_errors()
    assert not Runbook.objects.exists()


def test_an_analyst_reads_a_runbook_but_cannot_change_it(analyst_client, runbook):
    page = analyst_client.get(change_url(runbook))
    refused = analyst_client.post(change_url(runbook), form_data(existing(runbook), runbook))

    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert "1. Create a task" in page.content.decode()
    assert refused.status_code == 403
    runbook.refresh_from_db()
    assert runbook.version == 1


# --- runs -------------------------------------------------------------------------------


@pytest.fixture
def failed_run(runbook) -> RunbookRun:
    run = RunbookRun.objects.create(
        runbook=runbook,
        version=1,
        definition=runbook_definition(runbook),
        incident=open_incident(),
        state="failed",
        position=1,
        error="boom",
    )
    StepResult.objects.create(run=run, position=0, action="create_task", status="done",
                              detail="Created TASK0001001")  # fmt: skip
    return run


def run_url(run: RunbookRun, name: str = "change") -> str:
    return reverse(f"admin:runbooks_runbookrun_{name}", args=[run.pk])


def test_the_run_page_shows_its_flow_step_results_and_buttons(analyst_client, failed_run):
    response = analyst_client.get(run_url(failed_run))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Created TASK0001001" in page and "boom" in page
    assert 'role="img"' in page and "2. Ask the affected user" in page
    assert run_url(failed_run, "resume") in page and run_url(failed_run, "cancel") in page


def test_resuming_a_failed_run_goes_through_run_retry(analyst_client, failed_run):
    response = analyst_client.post(run_url(failed_run, "resume"))

    assert response.status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.state == "running" and failed_run.error == ""
    assert failed_run.incident.timeline.filter(kind="runbook.retried").exists()


def test_cancelling_a_run_goes_through_run_cancel(analyst_client, failed_run):
    response = analyst_client.post(run_url(failed_run, "cancel"))

    assert response.status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.state == "cancelled"
    assert failed_run.incident.timeline.filter(kind="runbook.cancelled").exists()


def test_resuming_a_run_that_has_not_failed_is_refused_as_a_message(analyst_client, failed_run):
    RunbookRun.objects.filter(pk=failed_run.pk).update(state="waiting")

    response = analyst_client.post(run_url(failed_run, "resume"), follow=True)

    assert "Only a failed run can be resumed" in response.content.decode()
    failed_run.refresh_from_db()
    assert failed_run.state == "waiting"


def test_the_bulk_action_resumes_the_selected_failed_runs(analyst_client, failed_run):
    response = analyst_client.post(
        reverse("admin:runbooks_runbookrun_changelist"),
        {"action": "resume_failed", "_selected_action": [failed_run.pk]},
    )

    assert response.status_code == 302
    failed_run.refresh_from_db()
    assert failed_run.state == "running"


def test_the_run_buttons_need_post_and_the_change_permission(client, failed_run):
    reader = UserFactory(is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_runbookrun"))
    client.force_login(reader)

    assert client.get(run_url(failed_run)).status_code == 200
    assert client.post(run_url(failed_run, "resume")).status_code == 403
    assert client.post(run_url(failed_run, "cancel")).status_code == 403
    failed_run.refresh_from_db()
    assert failed_run.state == "failed"


def test_resume_by_get_is_not_found(analyst_client, failed_run):
    assert analyst_client.get(run_url(failed_run, "resume")).status_code == 404


def test_runs_cannot_be_added_changed_or_deleted_in_the_admin(analyst_client, failed_run):
    assert analyst_client.get(reverse("admin:runbooks_runbookrun_add")).status_code == 403
    assert analyst_client.post(run_url(failed_run), {"error": ""}).status_code == 403
    assert analyst_client.get(run_url(failed_run, "delete")).status_code == 403
