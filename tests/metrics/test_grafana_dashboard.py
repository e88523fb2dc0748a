"""The example Grafana dashboard (docs/grafana-dashboard.json): valid JSON, its Prometheus
data source chosen by a variable, a panel for every metric the app exports and for the
task queue's, counters read through rate() or increase()."""

import json
import re

from bench.common import ROOT
from soc.metrics import REGISTRY

DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
# Exported beside the app's own (the queue's state, per broker).
QUEUE_METRICS = {"soc_task_queue_depth", "soc_task_queue_oldest_age_seconds"}


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


def exported_names() -> dict[str, str]:
    """Each family's name as queries name it (counters with _total) → its type."""
    return {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in REGISTRY.collect()
    }


def test_it_is_json_with_a_prometheus_data_source_variable():
    dashboard = json.loads(DASHBOARD.read_text())

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource",
        "prometheus",
    )
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_metric_has_a_panel(db):
    used = set(re.findall(r"\bsoc_\w+", " ".join(expressions())))

    wanted = set(exported_names()) | QUEUE_METRICS
    assert {name for name in wanted if not any(u.startswith(name) for u in used)} == set()
    # And nothing the app does not export (a typo shows no data, silently).
    known = {u for u in used if any(u.startswith(name) for name in wanted)}
    assert used == known


def test_counters_and_histograms_are_read_as_rates(db):
    growing = tuple(
        name for name, kind in exported_names().items() if kind in ("counter", "histogram")
    )
    for expr in expressions():
        if any(name in expr for name in growing):
            assert "rate(" in expr or "increase(" in expr, expr
