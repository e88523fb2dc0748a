"""The benchmark scripts' smoke runs need PostgreSQL and take about a minute each: marked
slow and skipped unless asked for with `-m slow` (or BENCH_SMOKE=1)."""

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a benchmark smoke run (skipped by default)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = config.getoption("markexpr") or ""
    asked = "slow" in expression and "not slow" not in expression
    if asked or os.environ.get("BENCH_SMOKE"):
        return
    skip = pytest.mark.skip(reason="benchmark smoke run: use -m slow or BENCH_SMOKE=1")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
