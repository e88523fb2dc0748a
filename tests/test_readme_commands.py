"""Every command the README shows works as written on a fresh clone: its first command
(`up`) until it serves, then each of the others, with nothing configured. Run in a copy of
the tracked files, so nothing of this checkout (its `.env`, its database) helps."""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from bench.common import free_port

ROOT = Path(__file__).resolve().parent.parent
FIRST_COMMAND = "uv run python manage.py up"
# README commands not run one after another here, and why.
SKIPPED = {
    FIRST_COMMAND: "a server until Ctrl-C: run first, on its own port, until it serves",
    "uv run pytest": "the test command itself",
}

pytestmark = [
    # Nothing here depends on the test database; the SQLite pass is enough.
    pytest.mark.skipif(connection.vendor != "sqlite", reason="runs in the SQLite pass"),
    pytest.mark.skipif(shutil.which("git") is None, reason="copies the files git tracks"),
]


def readme_commands() -> list[str]:
    """The commands of the README's ```sh blocks, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        for command in block.replace("\\\n", " ").splitlines():
            if command.strip() and not command.lstrip().startswith("#"):
                commands.append(command.strip())
    return commands


def as_run_here(command: str) -> str:
    """The command with this interpreter for `uv run python` (uv would sync first)."""
    python = shlex.quote(sys.executable)
    return re.sub(
        r"^uv run python\b", python, re.sub(r"^uv run (?!python\b)", f"{python} -m ", command)
    )


def clean_environment() -> dict[str, str]:
    """This process's environment without anything the app reads: no DEBUG, no
    SECRET_KEY, no settings module (pytest's is the tests')."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    return {
        name: value
        for name, value in os.environ.items()
        if name not in names
        and not name.startswith(("DJANGO_", "ANYMAIL_", "AXES_", "ANSWER_", "Q_"))
    } | {"PYTHONUNBUFFERED": "1"}


def serve_until_up_then_interrupt(clone: Path, env: dict[str, str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    up = subprocess.Popen(  # noqa: S602 (the README's own command line)
        f"{as_run_here(FIRST_COMMAND)} {address}",
        shell=True,
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's job
    )
    try:
        deadline = time.monotonic() + 120
        while not serves(f"http://{address}/admin/login/"):
            assert up.poll() is None, f"up exited with {up.returncode}:\n{up.stdout.read()}"
            assert time.monotonic() < deadline, "up did not serve within 120 s"
            time.sleep(0.5)
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
        output, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert "Traceback" not in output, output


def serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own URL)
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_the_readme_shows_its_first_command_first():
    assert readme_commands()[0] == FIRST_COMMAND


def test_every_readme_command_works_as_written_after_the_first(fresh_clone):
    env = clean_environment()
    serve_until_up_then_interrupt(fresh_clone, env)

    failed = []
    for command in readme_commands():
        if command in SKIPPED:
            continue
        done = subprocess.run(  # noqa: S602 (the README's own command line)
            as_run_here(command),
            shell=True,
            cwd=fresh_clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            failed.append(f"$ {command}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
    assert failed == [], "\n\n".join(failed)
