"""A runbook step's log lines name the incident and the task that ran the step."""

from runbooks import actions
from tests.builders.log_lines import json_log_lines


def test_a_failing_steps_lines_carry_the_incident_number_and_the_task(
    shipped, open_with_runbooks, monkeypatch
):
    def broken(ctx):
        raise RuntimeError("ticketing down for bob@corp.example.com")

    monkeypatch.setattr(actions.ACTIONS["create_task"], "executor", broken)
    with json_log_lines() as lines:
        incident = open_with_runbooks("policy-violation")

    failures = [line for line in lines() if line["message"].endswith("failed")]
    assert failures
    assert {(line["incident"], line["task"]) for line in failures} == {
        (incident.number, "runbooks.tasks.advance_run")
    }
    assert failures[0]["exception"].endswith("RuntimeError: ticketing down for [email]")
