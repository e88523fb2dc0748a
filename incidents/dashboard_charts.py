"""The dashboard's charts, drawn on the server as SVG: no script, no chart library, nothing
the admin's pages must load from elsewhere. Each chart carries a <title> and a <desc> and
is drawn in a viewBox, so it scales to the width it is given; the exact numbers are in the
table beside it. Colours come from classes (incidents/static/incidents/dashboard.css),
with fills in the markup for a reader without the stylesheet."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Drawn about as large as shown in a column of the dashboard at 1366 px, so 12 px text
# stays 12 px.
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 22, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
GRID_LINES = 4


@dataclass(frozen=True)
class Series:
    """Values per day (None: no value that day), drawn in `css` with `colour` as fallback;
    `urls`: where each day's mark links to ("" for none)."""

    name: str
    values: Sequence[float | None]
    css: str
    colour: str
    urls: Sequence[str] = ()


def day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


def scale(largest: float) -> tuple[float, int]:
    """The axis top and its number of grid steps (at most GRID_LINES): steps of 1, 2 or 5
    times a power of ten, never below 1, so counts get whole numbers on the axis."""
    step = 1.0
    while largest > step * GRID_LINES:
        for factor in (2, 2.5, 2):  # 1 → 2 → 5 → 10 → 20 → 50 ...
            step *= factor
            if largest <= step * GRID_LINES:
                break
    steps = max(math.ceil(largest / step), 1)
    return step * steps, steps


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _svg(template: str, *args: object) -> SafeString:
    """format_html with coordinates rounded to a tenth of a pixel (format_html escapes its
    arguments into strings first, so the template cannot format them itself)."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def _frame(key: str, title: str, desc: str, body: SafeString) -> SafeString:
    return _svg(
        '<svg class="soc-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-t">{}</title><desc id="{}-d">{}</desc>{}</svg>',
        WIDTH,
        HEIGHT,
        key,
        key,
        key,
        title,
        key,
        desc,
        body,
    )


def _axes(days: Sequence[date], top: float, steps: int, unit: str) -> SafeString:
    """Grid lines with their values on the left, and every fifth day (and today) below."""
    lines = []
    for i in range(steps + 1):
        value = top * i / steps
        y = TOP + PLOT_H - PLOT_H * i / steps
        lines.append(
            _svg(
                '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#ddd"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end" font-size="12">{}{}</text>',
                LEFT,
                WIDTH - RIGHT,
                y,
                y,
                LEFT - 6,
                y + 4,
                _number(value),
                unit,
            )
        )
    slot = PLOT_W / max(len(days), 1)
    for i, day in enumerate(days):
        if i % 5 == 0 or i == len(days) - 1:
            lines.append(
                _svg(
                    '<text class="axis" x="{}" y="{}" text-anchor="middle" '
                    'font-size="12">{}</text>',
                    LEFT + slot * (i + 0.5),
                    HEIGHT - 12,
                    day_label(day),
                )
            )
    return _joined(lines)


def _legend(series: Sequence[Series]) -> SafeString:
    return format_html_join(
        "",
        '<rect class="{}" x="{}" y="2" width="10" height="10" fill="{}"/>'
        '<text class="legend" x="{}" y="11" font-size="12">{}</text>',
        (
            (s.css, LEFT + 150 * i, s.colour, LEFT + 14 + 150 * i, s.name)
            for i, s in enumerate(series)
        ),
    )


def _joined(marks: Sequence[SafeString]) -> SafeString:
    return mark_safe("".join(marks))  # noqa: S308 (each mark built by format_html)


def _linked(url: str, mark: SafeString) -> SafeString:
    return _svg('<a href="{}">{}</a>', url, mark) if url else mark


def bar_chart(
    *, key: str, title: str, desc: str, days: Sequence[date], series: Sequence[Series]
) -> SafeString:
    """Bars side by side per day, one per series, each with its value on top when not 0
    and a link to the rows it counts."""
    top, steps = scale(max((v or 0 for s in series for v in s.values), default=0))
    slot = PLOT_W / max(len(days), 1)
    bar = (slot - 4) / len(series)
    marks = []
    for i, day in enumerate(days):
        for j, s in enumerate(series):
            value = s.values[i] or 0
            height = PLOT_H * value / top
            x = LEFT + slot * i + 2 + bar * j
            y = TOP + PLOT_H - height
            mark = _svg(
                '<rect class="{}" x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{}, {}: {}</title></rect>",
                s.css,
                x,
                y,
                max(bar - 1, 1),
                height,
                s.colour,
                s.name,
                day_label(day),
                _number(value),
            )
            if value and bar >= 14:  # a number wider than its bar would hide its neighbours
                mark = _svg(
                    '{}<text class="value" x="{}" y="{}" text-anchor="middle" '
                    'font-size="10">{}</text>',
                    mark,
                    x + bar / 2,
                    y - 3,
                    _number(value),
                )
            marks.append(_linked(s.urls[i] if s.urls else "", mark))
    body = _svg("{}{}{}", _axes(days, top, steps, ""), _joined(marks), _legend(series))
    return _frame(key, title, desc, body)


def line_chart(
    *,
    key: str,
    title: str,
    desc: str,
    days: Sequence[date],
    series: Sequence[Series],
    unit: str,
) -> SafeString:
    """A line per series through the days that have a value (a gap where one has none),
    with a dot per value that names it."""
    top, steps = scale(max((v for s in series for v in s.values if v is not None), default=0))
    slot = PLOT_W / max(len(days), 1)
    marks = []
    for s in series:
        points = [
            (LEFT + slot * (i + 0.5), TOP + PLOT_H - PLOT_H * v / top, v, days[i], i)
            for i, v in enumerate(s.values)
            if v is not None
        ]
        runs: list[list[tuple[float, float]]] = []
        previous = None
        for x, y, _v, _day, i in points:
            if previous is None or i != previous + 1:
                runs.append([])
            runs[-1].append((x, y))
            previous = i
        for run in runs:
            if len(run) > 1:
                marks.append(
                    _svg(
                        '<polyline class="{}" fill="none" stroke="{}" stroke-width="2" '
                        'points="{}"/>',
                        s.css,
                        s.colour,
                        " ".join(f"{x:.1f},{y:.1f}" for x, y in run),
                    )
                )
        for x, y, value, day, i in points:
            dot = _svg(
                '<circle class="{}" cx="{}" cy="{}" r="3.5" fill="{}">'
                "<title>{}, {}: {}{}</title></circle>",
                s.css,
                x,
                y,
                s.colour,
                s.name,
                day_label(day),
                _number(value),
                unit,
            )
            marks.append(_linked(s.urls[i] if s.urls else "", dot))
    body = _svg("{}{}{}", _axes(days, top, steps, unit), _joined(marks), _legend(series))
    return _frame(key, title, desc, body)


@dataclass(frozen=True)
class Part:
    label: str
    value: int
    css: str
    colour: str
    url: str = ""


def share_bar(*, key: str, title: str, desc: str, parts: Sequence[Part]) -> SafeString:
    """One bar split into the parts' shares, each labelled with its count and percentage
    below, and linked to its rows."""
    height = 90
    spacing = PLOT_W / max(len(parts), 1)
    total = sum(p.value for p in parts)
    marks, x = [], float(LEFT)
    for i, part in enumerate(parts):
        share = part.value / total if total else 0
        width = PLOT_W * share
        percent = f"{share:.0%}"
        bar = _svg(
            '<rect class="{}" x="{}" y="8" width="{}" height="40" fill="{}">'
            "<title>{}: {} ({})</title></rect>",
            part.css,
            x,
            width,
            part.colour,
            part.label,
            part.value,
            percent,
        )
        label = _svg(
            '<rect class="{}" x="{}" y="62" width="10" height="10" fill="{}"/>'
            '<text class="legend" x="{}" y="71" font-size="13">{}: {} ({})</text>',
            part.css,
            LEFT + spacing * i,
            part.colour,
            LEFT + 16 + spacing * i,
            part.label,
            part.value,
            percent,
        )
        marks.append(_linked(part.url, _svg("{}{}", bar, label)))
        x += width
    if not total:
        marks.append(
            _svg(
                '<rect x="{}" y="8" width="{}" height="40" fill="none" stroke="#ccc"/>'
                '<text class="axis" x="{}" y="33" font-size="13">{}</text>',
                LEFT,
                PLOT_W,
                LEFT + 10,
                "No question settled in this window.",
            )
        )
    body = _joined(marks)
    return _svg(
        '<svg class="soc-chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
        'xmlns="http://www.w3.org/2000/svg"><title id="{}-t">{}</title>'
        '<desc id="{}-d">{}</desc>{}</svg>',
        WIDTH,
        height,
        key,
        key,
        key,
        title,
        key,
        desc,
        body,
    )
