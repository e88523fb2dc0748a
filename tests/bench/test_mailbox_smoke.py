"""The mailbox benchmark's and drill's --quick modes run to the end and report consistent
figures (need PostgreSQL on 127.0.0.1:5432 and Dovecot, which .ci/run installs)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.dovecot import DOVECOT

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DOVECOT, reason="dovecot is not installed"),
]


def _run(script: str, *args: str) -> str:
    finished = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    return finished.stdout


def test_the_mailbox_benchmark_reads_every_reply_and_compares_with_the_webhook():
    out = _run("mailbox_ingest.py", "--quick")

    assert re.search(r"mailbox \(IMAP poll\) +\| 100/100 .*\| 100/100 ", out), out
    assert re.search(r"webhook \(Postmark\) +\| 100/100 .*\| 100/100 ", out), out
    assert "INBOX left: 0; in Processed: 100; webhook posts not 200: 0" in out
    assert "mailbox ÷ webhook: stored per s" in out


def test_the_mailbox_kill_drill_passes():
    out = _run("drill_mailbox_kill.py", "--quick")

    assert "kills while a poll was reading                   1  (expected 1)  ok" in out
    assert "messages stored from the mailbox                40  (expected 40)  ok" in out
    assert out.rstrip().endswith("PASSED")
