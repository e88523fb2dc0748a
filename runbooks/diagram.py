"""A runbook's flow as an inline SVG, for the admin pages of runbooks and their runs.

Pure function of a definition dict, so a run's page draws the snapshot it runs and the
runbook's page draws the saved steps. Steps that always run sit in the centre column; a
stretch of guarded steps (they follow a question) is split into one lane per guard, each
headed by the answer that leads into it. A question in a lane (ask the manager when the
person does not answer) sits to the right of the centre: the guarded steps after it branch
on its answer, and are reached from it and, past it ("otherwise"), from the step before.
The markup has no script and no external asset, and every piece of text is escaped, so it
can be embedded with mark_safe.

Given a run's path (runbooks.run_path), the diagram shows the way the run went: the steps
it executed and the arrows between them drawn strong, the branch it took with its label
marked, the steps whose guard sent it elsewhere faded, and the step it waits on or failed
at marked.
"""

from dataclasses import dataclass
from itertools import pairwise

from django.utils.html import escape

from runbooks.actions import ACTIONS
from runbooks.definitions import ASKING_ACTIONS
from runbooks.models import Guard
from runbooks.outcomes import SPECIAL_OUTCOMES
from runbooks.targets import ask_label
from runbooks.translations import DEFAULT_LANGUAGE, in_language

BOX_W, BOX_H = 270, 46
COL_W = BOX_W + 30  # one column (lane) per box, with a margin between lanes
ROW_GAP = 26  # between boxes in the same column
BRANCH_GAP = 58  # before a set of lanes: room for the lane labels on the arrows
MARGIN = 16
SUMMARY_CHARS = 40

ACTION_FILL, ACTION_STROKE = "#eef5fa", "#417690"
ASK_FILL, ASK_STROKE = "#fff3d6", "#b7791f"

# A run's path: the look of each step status (stroke, badge fill, badge mark, words).
PATH_STROKE = "#2e7d32"
PATH_LOOK = {
    "done": ("#2e7d32", "#2e7d32", "\u2713", "done"),
    "waiting": ("#b7791f", "#b7791f", "\u2026", "waiting for an answer"),
    "failed": ("#ba2121", "#ba2121", "!", "failed here"),
    "next": ("#417690", "#417690", "\u25b8", "runs next"),
}
ON_PATH = frozenset(PATH_LOOK)
SKIPPED_OPACITY = "0.45"

BRANCH_LABELS = {
    Guard.ANSWERED: "answered",
    Guard.UNRECOGNISED: "unrecognised",
    Guard.NO_ANSWER: "no answer by deadline",
    Guard.UNDELIVERABLE: "undeliverable",
    Guard.NO_TARGET: "nobody to ask",
    Guard.OUT_OF_OFFICE: "out of office",
}
# The special outcomes as a lane names them in a list: "no answer, undeliverable".
OUTCOME_WORDS = {
    Guard.NO_ANSWER: "no answer",
    Guard.NO_TARGET: "nobody to ask",
    "suspicious": "suspicious",
}
# Where the arrows into the lanes after a question in a lane join, above the lanes' labels.
JOIN_ABOVE = BRANCH_GAP - 14


@dataclass
class _Box:
    number: int  # 1-based, as steps are named everywhere else
    step: dict
    x: float  # centre
    y: float  # top


def branch_label(guard: str, outcomes: list[str]) -> str:
    """How a lane's header reads, e.g. "answer: yes" or "anything but yes, no"."""
    if guard == Guard.ANSWER_IN:
        if outcomes and all(o in SPECIAL_OUTCOMES for o in outcomes):
            return ", ".join(OUTCOME_WORDS.get(o, BRANCH_LABELS.get(o, o)) for o in outcomes)
        return "answer: " + ", ".join(outcomes)
    if guard == Guard.ANSWER_NOT_IN:
        return "anything but " + ", ".join(outcomes)
    return BRANCH_LABELS.get(guard, guard)


def step_summary(step: dict) -> str:
    """The step's key parameter: the first text-like one its action declares (task title,
    note text, state, question...), truncated."""
    params = step.get("params") or {}
    spec = ACTIONS.get(step.get("action", ""))
    names = list(spec.params) if spec else list(params)
    for name in names:
        value = params.get(name)
        if isinstance(value, dict):  # a text in several languages: the analysts' one
            value = in_language(value, DEFAULT_LANGUAGE)
        if isinstance(value, str) and value.strip():
            return _truncate(" ".join(value.split()), SUMMARY_CHARS)
    return ""


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _action_label(step: dict) -> str:
    if step.get("action") == "ask_user":
        return ask_label(step.get("params") or {})  # whom it asks
    spec = ACTIONS.get(step.get("action", ""))
    return spec.label if spec else str(step.get("action", "?"))


def _asks(block: list[tuple[int, dict]]) -> bool:
    return any(step.get("action") == "ask_user" for _, step in block)


def _blocks(steps: list[dict]) -> list[list[tuple[int, dict]] | tuple[int, dict]]:
    """Split the steps into single 'always' steps and runs of guarded steps (branches).
    A question ends its run: the guarded steps after it branch on its answer."""
    blocks: list = []
    for number, step in enumerate(steps, start=1):
        if (step.get("guard") or Guard.ALWAYS) == Guard.ALWAYS:
            blocks.append((number, step))
        elif blocks and isinstance(blocks[-1], list) and not _asks(blocks[-1]):
            blocks[-1].append((number, step))
        else:
            blocks.append([(number, step)])
    return blocks


def _columns(blocks: list) -> int:
    """Lanes side by side; a question's lanes sit right of a free centre column."""
    widest = 1
    for index, block in enumerate(blocks):
        if isinstance(block, list):
            lanes = len(_lanes(block))
            widest = max(widest, 2 * lanes + 1 if _is_stage(blocks, index) else lanes)
    return widest


def _is_stage(blocks: list, index: int) -> bool:
    """A branch asking a question that steps after it branch on (or follow)."""
    block = blocks[index]
    return isinstance(block, list) and _asks(block) and index + 1 < len(blocks)


def _lanes(branch: list[tuple[int, dict]]) -> dict[tuple, list[tuple[int, dict]]]:
    lanes: dict[tuple, list[tuple[int, dict]]] = {}
    for number, step in branch:
        key = (step.get("guard"), tuple(step.get("outcomes") or ()))
        lanes.setdefault(key, []).append((number, step))
    return lanes


def render_flow_svg(definition: dict, path: dict[int, str] | None = None) -> str:
    """The flow of `definition`; with `path` (position -> status, from run_path) the way a
    run took through it is highlighted."""
    path = path or {}
    name = str(definition.get("name") or "Runbook")
    steps = list(definition.get("steps") or [])
    blocks = _blocks(steps)
    columns = _columns(blocks)
    width = columns * COL_W + 2 * MARGIN
    centre = width / 2

    boxes: list[_Box] = []
    edges: list[str] = []
    labels: list[str] = []
    y = MARGIN
    previous: list[_Box] = []  # the boxes the next step is reached from
    # The boxes before a question in a lane: the next steps are reached from them too,
    # past the question, drawn taken only when the run went past it (`past_taken`).
    past: list[_Box] = []
    past_taken = False
    for index, block in enumerate(blocks):
        if isinstance(block, tuple):
            number, step = block
            box = _Box(number, step, centre, y)
            edges += [_edge(p, box, path, merge_at=y - ROW_GAP / 2) for p in previous]
            edges += [_edge(p, box, path, merge_at=y - ROW_GAP / 2, taken=past_taken) for p in past]
            boxes.append(box)
            previous, past = [box], []
            y += BOX_H + ROW_GAP
            continue
        # A branch: lanes side by side, centred under the step before them.
        y += BRANCH_GAP - ROW_GAP
        lanes = _lanes(block)
        stage = _is_stage(blocks, index)
        ends: list[_Box] = []
        bottom = y
        lane_boxes_all: list[_Box] = []
        for lane, ((guard, outcomes), lane_steps) in enumerate(lanes.items()):
            if stage:
                x = centre + (lane + 1) * COL_W
            else:
                x = centre + (lane - (len(lanes) - 1) / 2) * COL_W
            lane_boxes = [
                _Box(number, step, x, y + row * (BOX_H + ROW_GAP))
                for row, (number, step) in enumerate(lane_steps)
            ]
            join = y - JOIN_ABOVE if past else None
            edges += [_edge(p, lane_boxes[0], path, merge_at=join) for p in previous]
            edges += [_edge(p, lane_boxes[0], path, merge_at=join, taken=past_taken) for p in past]
            edges += [_edge(a, b, path) for a, b in pairwise(lane_boxes)]
            taken = _status(path, lane_boxes[0]) in ON_PATH
            labels.append(_lane_label(branch_label(guard, list(outcomes)), x, y - 22, taken))
            boxes += lane_boxes
            lane_boxes_all += lane_boxes
            ends.append(lane_boxes[-1])
            bottom = max(bottom, lane_boxes[-1].y + BOX_H)
        if stage:
            # The way past the question, down the free centre column.
            past_taken = all(_status(path, p) in ON_PATH for p in previous) and not any(
                _status(path, b) in ON_PATH for b in lane_boxes_all
            )
            labels.append(_lane_label("otherwise", centre, y - 22, past_taken and bool(path)))
            past = previous
        else:
            past = []
        previous = ends
        y = bottom + ROW_GAP
    height = max(y - ROW_GAP, MARGIN) + MARGIN

    title = f"{'Path of a run through' if path else 'Flow of'} runbook {name}"
    aria = f"{title}: {len(steps)} steps"
    if path:
        executed = sum(1 for status in path.values() if status in ON_PATH)
        aria += f", {executed} on the run's path"
    body = "".join(edges) + "".join(_box(b, _status(path, b)) for b in boxes) + "".join(labels)
    if not steps:
        body = f'<text x="{centre}" y="{MARGIN + 14}" text-anchor="middle">No steps yet</text>'
        height = MARGIN * 2 + 20
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(aria)}" '
        f'width="{width:g}" height="{height:g}" viewBox="0 0 {width:g} {height:g}" '
        f'style="max-width:100%;height:auto" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>"
        '<defs><marker id="flow-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker>'
        '<marker id="flow-arrow-taken" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="5" markerHeight="5" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{PATH_STROKE}"/></marker></defs>'
        f"{body}</svg>"
    )


def _status(path: dict[int, str], box: _Box) -> str:
    return path.get(box.number - 1, "")


def _edge(
    source: _Box,
    target: _Box,
    path: dict[int, str],
    merge_at: float | None = None,
    taken: bool = True,
) -> str:
    """An arrow from the bottom of one box to the top of another. Into a centre step after
    lanes (merge_at), it goes straight down its own lane first so it crosses no box. Drawn
    strong when the run went from one to the other (and, past a question, `taken`)."""
    x1, y1 = source.x, source.y + BOX_H
    x2, y2 = target.x, target.y
    points = [(x1, y1)]
    if merge_at is not None and x1 != x2:
        points += [(x1, merge_at)]
        if merge_at < y2 - ROW_GAP:  # joining above a lane: then down into it
            points += [(x2, merge_at)]
    points.append((x2, y2))
    d = " ".join(f"{'M' if i == 0 else 'L'}{x:g},{y:g}" for i, (x, y) in enumerate(points))
    if taken and _status(path, source) in ON_PATH and _status(path, target) in ON_PATH:
        return (
            f'<path class="flow-taken" d="{d}" fill="none" stroke="{PATH_STROKE}" '
            'stroke-width="3" marker-end="url(#flow-arrow-taken)"/>'
        )
    return (
        f'<path d="{d}" fill="none" stroke="#666" stroke-width="1.2" '
        'marker-end="url(#flow-arrow)"/>'
    )


def _box(box: _Box, status: str = "") -> str:
    ask = box.step.get("action") in ASKING_ACTIONS
    fill, stroke = (ASK_FILL, ASK_STROKE) if ask else (ACTION_FILL, ACTION_STROKE)
    width = 2 if ask else 1
    left = box.x - BOX_W / 2
    heading = _truncate(f"{box.number}. {_action_label(box.step)}", SUMMARY_CHARS)
    summary = step_summary(box.step)
    classes = "flow-step" + (" flow-ask" if ask else "") + (f" path-{status}" if status else "")
    extra, badge = "", ""
    if status in PATH_LOOK:
        stroke, badge_fill, mark, words = PATH_LOOK[status]
        width = 3
        extra = f"<title>Step {box.number}: {words}</title>"
        badge = (
            f'<circle cx="{left + BOX_W:g}" cy="{box.y:g}" r="9" fill="{badge_fill}"/>'
            f'<text x="{left + BOX_W:g}" y="{box.y + 4:g}" text-anchor="middle" fill="#fff" '
            f'font-weight="bold">{mark}</text>'
        )
    elif status == "skipped":
        extra = f"<title>Step {box.number}: skipped, its branch was not taken</title>"
    opacity = f' opacity="{SKIPPED_OPACITY}"' if status == "skipped" else ""
    dashed = ' stroke-dasharray="4 3"' if status == "skipped" else ""
    return (
        f'<g class="{classes}"{opacity}>{extra}'
        f'<rect x="{left:g}" y="{box.y:g}" width="{BOX_W}" height="{BOX_H}" rx="5" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dashed}/>'
        f'<text x="{left + 10:g}" y="{box.y + 18:g}" font-weight="bold">{escape(heading)}</text>'
        f'<text x="{left + 10:g}" y="{box.y + 35:g}" fill="#333">{escape(summary)}</text>'
        f"{badge}</g>"
    )


def _lane_label(text: str, x: float, y: float, taken: bool = False) -> str:
    # Drawn after the arrows, on a white pill, so the arrow into the lane reads as labelled.
    # The branch a run took is filled in the path's colour.
    text = _truncate(text, SUMMARY_CHARS)
    pill_w = 12 + len(text) * 6.4
    fill, stroke, ink = (PATH_STROKE, PATH_STROKE, "#fff") if taken else ("#fff", "#999", "#000")
    return (
        f'<g class="flow-lane{" flow-lane-taken" if taken else ""}">'
        f'<rect x="{x - pill_w / 2:g}" y="{y - 12:g}" width="{pill_w:g}" '
        f'height="18" rx="9" fill="{fill}" stroke="{stroke}"/>'
        f'<text x="{x:g}" y="{y + 1:g}" text-anchor="middle" font-style="italic" fill="{ink}">'
        f"{escape(text)}</text></g>"
    )
