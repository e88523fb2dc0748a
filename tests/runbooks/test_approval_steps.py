"""ask_approval as runbooks see it: its approvers parameter, the outcomes the guards after
it may name (in files, the engine and the admin's step form) and its box on the diagram."""

import pytest
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError
from runbooks.approvers import clean_approvers
from runbooks.definitions import DefinitionError, validate_steps
from runbooks.diagram import render_flow_svg
from runbooks.models import Runbook, RunbookRun
from runbooks.services import run_resume
from runbooks.versions import runbook_set_steps
from tests.builders.approvals import approval_steps, tasks
from tests.builders.runbook_forms import form_data, step_form_errors
from tests.factories import open_incident
from tests.runbooks.conftest import ASK


def test_approvers_are_read_one_per_line_and_checked():
    text = " Manager\nperson:CISO@Example.com\ngroup:SOC analyst\n\nmanager\n"

    assert clean_approvers(text) == ["manager", "person:ciso@example.com", "group:SOC analyst"]
    for bad, message in [([], "at least one"), (["boss"], "'boss' is not an approver"),
                         (["person:nobody"], "is not an approver"), ("x" * 0, "at least one"),
                         ([3], "must be text")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            clean_approvers(bad)


def test_the_guards_after_an_approval_name_approved_and_denied():
    steps = validate_steps(approval_steps(["manager"]))
    assert [s["outcomes"] for s in steps[1:3]] == [["approved"], ["denied"]]

    wrong = approval_steps(["manager"])
    wrong[1]["outcomes"] = ["yes"]
    with pytest.raises(DefinitionError, match=r"'yes' is not an option .*approved, denied"):
        validate_steps(wrong)


def test_an_approval_step_needs_its_question_and_approvers():
    with pytest.raises(DefinitionError) as error:
        validate_steps([{"action": "ask_approval", "params": {"quorum": -1}}])

    assert error.value.errors["step 1"] == {
        "params.question": "required",
        "params.approvers": "required",
        "params.quorum": "must be a whole number, 0 or more",
    }


def test_the_diagram_draws_an_approval_like_a_question():
    definition = {"name": "Approve", "steps": validate_steps(approval_steps(["manager"]))}

    svg = render_flow_svg(definition)

    assert svg.count('class="flow-step flow-ask"') == 1
    assert "1. Ask for approval" in svg
    assert "answer: approved" in svg and "answer: denied" in svg


def test_the_step_form_takes_approvers_one_per_line_and_offers_the_approval_outcomes(
    author_client,
):
    approval = {"action": "ask_approval",
                "params": {"question": "Disable {person_name}?",
                           "approvers": "manager\ngroup:SOC analyst", "quorum": 1}}  # fmt: skip
    approved = {"action": "create_task", "guard": "answer_in", "outcomes": ["approved"],
                "params": {"title": "Disable the account"}}  # fmt: skip

    response = author_client.post(
        reverse("admin:runbooks_runbook_add"), form_data([ASK, approval, approved])
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    step = Runbook.objects.get().steps.get(position=1)
    assert step.params["approvers"] == ["manager", "group:SOC analyst"]
    page = author_client.get(reverse("admin:runbooks_runbook_change", args=[step.runbook_id]))
    text = page.content.decode()
    assert "Approved (approved)" in text and "Denied (denied)" in text
    assert "manager\ngroup:SOC analyst</textarea>" in text


def test_a_bad_approver_in_the_form_is_shown_beside_the_field(author_client):
    approval = {"action": "ask_approval",
                "params": {"question": "Disable?", "approvers": "the boss"}}  # fmt: skip

    response = author_client.post(reverse("admin:runbooks_runbook_add"), form_data([approval]))

    assert response.status_code == 200
    errors = step_form_errors(response, 0)["param__ask_approval__approvers"]
    assert "'the boss' is not an approver" in " ".join(errors)


# --- the engine, with the generic action that only waits ---------------------------------


def test_a_run_waiting_on_an_approval_resumes_on_approved_or_denied_only(db, committed, bob):
    runbook = Runbook.objects.create(name="Approve")
    runbook_set_steps(runbook=runbook, steps=approval_steps(["manager"]))
    incident = committed(open_incident, affected_user=bob)
    run = RunbookRun.objects.get(incident=incident)
    assert run.state == RunbookRun.State.WAITING
    assert incident.timeline.filter(summary="Waiting for approval: Disable the account of "
                                    "Bob Builder?").exists()  # fmt: skip

    with pytest.raises(DomainError, match="options: approved, denied"):
        run_resume(run=run, outcome="yes", actor=Actor.system())
    assert committed(run_resume, run=run, outcome="approved", actor=Actor.system())

    assert tasks(incident) == ["Disable the account of Bob Builder"]
