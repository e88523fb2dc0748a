"""Where a run is and the way it came: the status of each step of its definition, read from
its step results, for the highlighted diagram (runbooks.diagram) and the line in the
incident's header saying which step the run is on."""

from collections.abc import Iterable

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from runbooks.actions import ACTIONS
from runbooks.diagram import render_flow_svg, step_summary
from runbooks.models import RunbookRun, StepResult
from runbooks.targets import ask_label

DONE = "done"
WAITING = "waiting"  # the question the run waits on
SKIPPED = "skipped"  # its guard did not match: a branch not taken
FAILED = "failed"  # the step the run failed at
NEXT = "next"  # the step a running run executes next

State = RunbookRun.State


def run_path(run: RunbookRun, results: Iterable[StepResult]) -> dict[int, str]:
    """The status of each step the run reached, by position (0-based); steps not reached
    are absent. A question answered since stays done: its result says it waited."""
    path: dict[int, str] = {}
    for result in results:
        if result.status == StepResult.Status.SKIPPED:
            path[result.position] = SKIPPED
        elif (
            result.status == StepResult.Status.WAITING
            and run.state == State.WAITING
            and result.position == run.position - 1
        ):
            path[result.position] = WAITING
        else:
            path[result.position] = DONE
    if run.position < len(run.steps):
        if run.state == State.FAILED:
            path[run.position] = FAILED
        elif run.state == State.RUNNING:
            path[run.position] = NEXT
    return path


def _step_name(step: dict) -> str:
    spec = ACTIONS.get(step.get("action", ""))
    label = spec.label if spec else str(step.get("action", "?"))
    if step.get("action") == "ask_user":
        label = ask_label(step.get("params") or {})  # whom it asks
    summary = step_summary(step)
    return f"{label}: {summary}" if summary else label


def run_step_text(run: RunbookRun) -> str:
    """Which step the run is on, in words: "Step 2 of 5, Ask the user: Did you…"."""
    steps, total = run.steps, len(run.steps)
    if run.state == State.WAITING and 0 < run.position <= total:
        return f"Step {run.position} of {total}, {_step_name(steps[run.position - 1])}"
    if run.state == State.COMPLETED:
        return f"All {total} steps done"
    if run.position >= total:
        return f"After step {total} of {total}"
    step = f"step {run.position + 1} of {total}, {_step_name(steps[run.position])}"
    if run.state == State.FAILED:
        return f"Failed at {step}"
    if run.state == State.CANCELLED:
        return f"Cancelled before {step}"
    return step[0].upper() + step[1:]


def run_path_html(run: RunbookRun, results: Iterable[StepResult]) -> SafeString:
    """The diagram of the run's definition with its path highlighted, and its legend."""
    path = run_path(run, results)
    svg = mark_safe(render_flow_svg(run.definition, path))  # noqa: S308 (all escaped)
    return render_to_string(
        "admin/runbooks/run_path.html", {"svg": svg, "run": run, "shown": set(path.values())}
    )
