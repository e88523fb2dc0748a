"""Each benchmark script's --quick mode runs to the end and reports consistent figures
(needs PostgreSQL on 127.0.0.1:5432; the drill also needs the PostgreSQL server binaries
and root or the postgres user)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(script: str, *args: str) -> str:
    finished = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, f"bench/{script}", "--quick", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


def test_the_webhook_ingest_benchmark_runs():
    out = _run("webhook_ingest.py")

    assert "Non-2xx answers (status: count, 0 = connection failed): none" in out
    assert "20 KB max: rate" in out and "25 MB: worker memory growth" in out
    assert "the app, every post deferred" in out and "x the file floor" in out


def test_the_database_outage_drill_passes():
    out = _run("drill_database_outage.py")

    assert "Drill PASSED." in out


def test_the_reply_benchmark_prints_its_statement_costs():
    out = _run("reply_to_branch.py", "--query-costs")

    assert "Statement shapes of a reply" in out
    assert "a run locked, with incident and person (run_resume)" in out


def test_the_reply_benchmark_compares_prepared_statements_side_by_side():
    out = _run("reply_to_branch.py", "--cost", "100", "--compare-prepared")

    for variant in ("off", "on"):
        assert re.search(rf"per reply, prepared statements {variant} +\| 50 ", out), out
