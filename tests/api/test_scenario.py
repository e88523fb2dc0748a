"""Acceptance: a SIEM opens a policy-violation incident through the API, the shipped
"Suspicious file download" runbook asks the user, and the integration follows everything
that happens through the API alone."""

from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest


def in_order(expected: list[str], kinds: list[str]) -> bool:
    """Whether `expected` appears in `kinds` in this order (other kinds may come between)."""
    remaining = iter(kinds)
    return all(kind in remaining for kind in expected)


def test_a_siem_follows_the_suspicious_download_scenario_through_the_api(
    siem, shipped, committed, bob, laptop
):
    assert shipped["Suspicious file download"].active

    # The SIEM opens the incident, naming category, person and CI as it knows them.
    created = committed(
        siem.post,
        "/api/incidents/",
        {
            "short_description": "Download of a file from a blocked site",
            "description": "Proxy log: bob downloaded tool.exe from a blocked category.",
            "category": "Policy violation",
            "priority": 2,
            "affected_user": "Bob@corp.example.com",
            "affected_ci": "LAPTOP-BOB",
            "external_reference": "splunk:notable:4711",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    number = created.json()["number"]
    assert created.json()["affected_user"] == "bob@corp.example.com"

    # The runbook created the task, moved the incident to Analysis and asked Bob.
    incident = siem.get(f"/api/incidents/{number}/").json()
    assert incident["state"] == "analysis"
    tasks = siem.get("/api/tasks/", {"incident": number}).json()["results"]
    assert [(t["title"], t["state"], t["created_by_kind"]) for t in tasks] == [
        ("Confirm the download with the user", "awaiting_user", "runbook")
    ]
    waiting = siem.get("/api/requests/", {"incident": number, "waiting": "true"}).json()
    [request] = waiting["results"]
    assert request["question"] == "Did you download this file?"
    assert request["task"] == tasks[0]["number"]
    assert [o["key"] for o in request["options"]] == ["yes", "no"]
    assert "token_hash" not in request
    listed = siem.get("/api/incidents/", {"has_waiting_request": "true"}).json()["results"]
    assert [i["number"] for i in listed] == [number]
    [run] = siem.get("/api/runs/", {"incident": number}).json()["results"]
    assert (run["runbook"], run["state"]) == ("Suspicious file download", "waiting")

    # Bob answers on the page (through the service, as the page does).
    committed(
        answer_record,
        request=ConfirmationRequest.objects.get(pk=request["id"]),
        option_key="yes",
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
    )

    tasks = siem.get("/api/tasks/", {"incident": number}).json()["results"]
    assert [(t["title"], t["state"]) for t in tasks] == [
        ("Confirm the download with the user", "completed"),
        ("Analyse the evidence provided by the user", "open"),
    ]
    [answer] = siem.get("/api/answers/", {"incident": number}).json()["results"]
    assert (answer["option_key"], answer["option_label"]) == ("yes", "Yes, I downloaded this file")
    assert (answer["channel"], answer["counted"], answer["flags"]) == ("page", True, [])
    assert siem.get("/api/requests/", {"incident": number, "waiting": "true"}).json() == {
        "next": None,
        "previous": None,
        "results": [],
    }
    [run] = siem.get("/api/runs/", {"incident": number}).json()["results"]
    assert (run["state"], run["outcome"]) == ("completed", "yes")

    timeline = siem.get(f"/api/incidents/{number}/timeline/").json()["results"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds[0] == "incident.opened"
    assert (timeline[0]["actor_kind"], timeline[0]["actor_name"]) == ("integration", "Splunk ES")
    expected_in_order = [
        "incident.opened",
        "task.created",
        "incident.state_changed",
        "request.sent",
        "answer.received",
        "task.completed",
        "task.created",
        "runbook.completed",
    ]
    assert in_order(expected_in_order, kinds), kinds
    received = next(entry for entry in timeline if entry["kind"] == "answer.received")
    assert received["actor_kind"] == "end_user"
    assert "Bob Builder" in received["summary"]
    times = [entry["created_at"] for entry in timeline]
    assert times == sorted(times)
    assert all(time.endswith("Z") or "+" in time for time in times)  # aware ISO 8601
