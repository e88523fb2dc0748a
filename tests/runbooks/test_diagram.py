import re
from pathlib import Path

import pytest
import yaml

from runbooks.definitions import validate_steps
from runbooks.diagram import render_flow_svg

LIBRARY = Path(__file__).resolve().parents[2] / "runbooks" / "library"
OPTIONS = [{"key": "yes", "label": "Yes"}, {"key": "no", "label": "No"}]


def shipped_definition(filename: str) -> dict:
    """A library file as the definition dict, with its `if` turned into guard and outcomes."""
    data = yaml.safe_load((LIBRARY / filename).read_text())

    def guard(condition) -> tuple[str, list[str]]:
        if isinstance(condition, dict):
            ((name, outcomes),) = condition.items()
            return name, list(outcomes)
        return condition or "always", []

    steps = [
        dict(zip(("guard", "outcomes"), guard(step.get("if")), strict=True))
        | {"action": step["action"], "params": step.get("params") or {}}
        for step in data["steps"]
    ]
    return {"name": data["name"], "steps": validate_steps(steps)}


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


@pytest.mark.parametrize(
    ("filename", "lanes"),
    [
        (
            "failed-sign-ins.yaml",
            [
                "no answer, undeliverable, out of office",
                "otherwise",
                "answer: yes",
                "answer: no",
                "anything but yes, no",
            ],
        ),
        ("suspicious-download.yaml", ["answer: yes", "answer: no", "anything but yes, no"]),
    ],
)
def test_a_shipped_runbook_shows_every_step_and_a_labelled_lane_per_branch(filename, lanes):
    definition = shipped_definition(filename)

    svg = render_flow_svg(definition)

    shown = texts(svg)
    for number in range(1, len(definition["steps"]) + 1):
        assert any(t.startswith(f"{number}. ") for t in shown), number
    assert [t for t in shown if t in lanes] == lanes
    asked = sum(1 for step in definition["steps"] if step["action"] == "ask_user")
    assert svg.count('class="flow-step flow-ask"') == asked
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'role="img"' in svg and f"<title>Flow of runbook {definition['name']}</title>" in svg


def test_the_download_runbook_draws_an_arrow_per_link_of_its_flow():
    svg = render_flow_svg(shipped_definition("suspicious-download.yaml"))

    # 1→2→3→4 in the centre, 4 into each of the three lanes, and 5→6, 7→8, 9→10.
    assert svg.count('marker-end="url(#flow-arrow)"') == 3 + 3 + 3


def test_a_box_shows_the_action_label_and_a_truncated_key_parameter():
    svg = render_flow_svg(
        {
            "name": "Long",
            "steps": [
                {
                    "action": "create_task",
                    "guard": "always",
                    "outcomes": [],
                    "params": {"title": "Reset the credentials of the person and check MFA"},
                }
            ],
        }
    )

    assert texts(svg) == ["1. Create a task", "Reset the credentials of the person and…"]


def test_steps_after_the_branches_that_always_run_join_the_lanes_again():
    steps = [
        {"action": "ask_user", "guard": "always", "outcomes": [],
         "params": {"question": "Was it you?", "options": OPTIONS}},
        {"action": "add_note", "guard": "no_answer", "outcomes": [], "params": {"text": "a"}},
        {"action": "add_note", "guard": "undeliverable", "outcomes": [], "params": {"text": "b"}},
        {"action": "add_note", "guard": "unrecognised", "outcomes": [], "params": {"text": "c"}},
        {"action": "add_note", "guard": "answered", "outcomes": [], "params": {"text": "d"}},
        {"action": "close_incident", "guard": "always", "outcomes": [],
         "params": {"reason": "Done"}},
    ]  # fmt: skip

    svg = render_flow_svg({"name": "Merge", "steps": steps})

    for label in ("no answer by deadline", "undeliverable", "unrecognised", "answered"):
        assert label in texts(svg)
    # Four arrows into the lanes and four out of them into the closing step.
    assert svg.count('marker-end="url(#flow-arrow)"') == 8


def test_hostile_text_is_escaped_and_no_script_gets_in():
    svg = render_flow_svg(
        {
            "name": '<script>alert("name")</script>',
            "steps": [
                {
                    "action": "create_task",
                    "guard": "always",
                    "outcomes": [],
                    "params": {"title": "<script>alert(1)</script>"},
                },
                {
                    "action": "ask_user",
                    "guard": "always",
                    "outcomes": [],
                    "params": {"question": '"><img src=x onerror=alert(1)>', "options": OPTIONS},
                },
                {
                    "action": "add_note",
                    "guard": "answer_in",
                    "outcomes": ["<b>yes</b>"],
                    "params": {"text": "x"},
                },
            ],
        }
    )

    assert "<script" not in svg
    assert "<img" not in svg and "<b>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "answer: &lt;b&gt;yes&lt;/b&gt;" in svg


def test_a_runbook_without_steps_says_so():
    svg = render_flow_svg({"name": "Empty", "steps": []})

    assert "No steps yet" in svg
