"""`manage.py up` (the README's first command) as a real process: stopping it stops the
task worker it started, whether by Ctrl-C or by SIGTERM (a service manager, `timeout`)."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.common import free_port

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_up_stops_its_worker(tmp_path, stop):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "soc.settings",
        "DEBUG": "true",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'up.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    up = subprocess.Popen(  # noqa: S603 (fixed argv)
        [sys.executable, "manage.py", "up", f"127.0.0.1:{free_port()}", "--no-demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        for line in up.stdout:
            if match := re.search(r"Task worker started \(pid (\d+)\)", line):
                worker = int(match.group(1))
                break
            assert time.monotonic() < deadline, "up did not start its worker"
        assert worker is not None and _alive(worker)
        # Read on, or a full pipe would block up and its worker (they share it) mid-write.
        rest: list[str] = []
        reader = threading.Thread(target=lambda: rest.extend(up.stdout), daemon=True)
        reader.start()

        up.send_signal(stop)
        try:
            up.wait(timeout=45)  # up gives the worker 15 s to stop, then kills it
        except subprocess.TimeoutExpired:
            pytest.fail("up did not stop within 45 s; it printed:\n" + "".join(rest)[-3000:])

        assert not _alive(worker)  # stopped and reaped by up, not left behind
    finally:
        if up.poll() is None:
            up.kill()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)
