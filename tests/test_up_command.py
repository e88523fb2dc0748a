"""`manage.py up` (the README's first command) as a real process, stopped the ways a
person and a machine stop it: Ctrl-C in a terminal (SIGINT to the whole foreground process
group; under `uv run` the child gets it a second time, passed on by uv), and SIGTERM (a
service manager, `timeout`). Each time it says "Stopped." and nothing more, and leaves no
process behind: neither its own nor any of the task worker's. And on a fresh clone: the
`.env` it writes for the other commands, and email links that lead to its port."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.common import ROOT, free_port

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="finds processes through /proc (Linux)"
)
UV = shutil.which("uv")
# Every variable a developer's shell might set that would change what `up` does here.
UNSET = ("DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "SITE_URL", "DATABASE_URL", "VAR_DIR",
         "ENV_FILE")  # fmt: skip


def _stat(pid: int | str) -> tuple[str, int, int] | None:
    """The state letter, parent and process group of a process; None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: the fields after it are fixed.
    state, ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
    return state, int(ppid), int(pgid)


def _processes() -> dict[int, tuple[str, int, int]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(entry)):
            found[int(entry)] = stat
    return found


def running(pids: set[int]) -> set[int]:
    """Those of the processes that still run (a zombie has ended: its parent or init
    reaps it)."""
    return {pid for pid in pids if (stat := _stat(pid)) and stat[0] != "Z"}


def group(pgid: int) -> set[int]:
    return {pid for pid, (_, _, its_group) in _processes().items() if its_group == pgid}


def family(pid: int) -> set[int]:
    """A process and all its descendants."""
    processes = _processes()
    members, added = {pid}, True
    while added:
        more = {child for child, (_, ppid, _) in processes.items() if ppid in members}
        added = bool(more - members)
        members |= more
    return running(members)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    """One migrated database that each test copies, so `up` finds nothing to migrate and
    each test takes seconds rather than a migration's time."""
    folder = tmp_path_factory.mktemp("up-template")
    database = folder / "db.sqlite3"
    env = {**_clean_environ(), "DEBUG": "true", "VAR_DIR": str(folder), "ENV_FILE": os.devnull}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=180,
    )
    return database


def _clean_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in UNSET}


@dataclass
class Up:
    """`up` started the way a terminal starts a command: in a process group of its own,
    which Ctrl-C signals as a whole."""

    process: subprocess.Popen
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Read all along, or a full pipe would block up and its worker (they share it).
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def text(self) -> str:
        return "".join(self.output)

    @property
    def worker_pid(self) -> int | None:
        match = re.search(r"Task worker started \(pid (\d+)\)", self.text)
        return int(match.group(1)) if match else None

    def wait_until_serving(self, port: int, worker_processes: int) -> set[int]:
        """Until the web server answers and the worker runs all its processes (its own,
        the sentinel, the monitor, the pusher and the task workers); returns their pids."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"up exited early:\n{self.text}"
            worker = self.worker_pid
            if worker and _answers(port) and len(family(worker)) >= worker_processes:
                return family(worker)
            time.sleep(0.2)
        pytest.fail(f"up did not start serving; it printed:\n{self.text}")

    def wait_for_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within {timeout} s; it printed:\n{self.text}")


@pytest.fixture
def start_up(tmp_path, migrated_database) -> Iterator:
    started: list[Up] = []

    def start(launcher: list[str], port: int, *extra: str, **env: str) -> Up:
        database = tmp_path / "db.sqlite3"
        shutil.copy(migrated_database, database)
        environ = {**_clean_environ(), "VAR_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
        # up writes its .env there, not in the checkout.
        environ.update(DATABASE_URL=f"sqlite:///{database}", ENV_FILE=str(tmp_path / ".env"))
        environ.update(env)
        process = subprocess.Popen(  # noqa: S603 (fixed argv)
            [*launcher, "manage.py", "up", f"127.0.0.1:{port}", "--no-demo", *extra],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        started.append(Up(process))
        return started[-1]

    yield start
    for up in started:  # a failed test leaves nothing running either
        left = group(up.process.pid) | (family(up.worker_pid) if up.worker_pid else set())
        for pid in running(left):
            os.kill(pid, signal.SIGKILL)
        up.process.wait(timeout=10)


PYTHON = pytest.param([sys.executable], id="python")
UV_RUN = pytest.param(
    [UV or "uv", "run", "--frozen", "python"],
    id="uv-run",
    marks=pytest.mark.skipif(UV is None, reason="needs uv"),
)


def ctrl_c(up: Up) -> None:
    os.killpg(up.process.pid, signal.SIGINT)


def ctrl_c_twice(up: Up) -> None:
    ctrl_c(up)
    ctrl_c(up)


def sigterm(up: Up) -> None:
    up.process.send_signal(signal.SIGTERM)


@pytest.mark.parametrize("launcher", [PYTHON, UV_RUN])
@pytest.mark.parametrize("stop", [ctrl_c, ctrl_c_twice, sigterm])
def test_stopping_up_says_stopped_and_leaves_no_process_behind(start_up, launcher, stop):
    port = free_port()
    up = start_up(launcher, port)
    worker = up.wait_until_serving(port, worker_processes=6)
    everyone = worker | group(up.process.pid)

    stop(up)
    exit_code = up.wait_for_exit(timeout=30)

    assert up.text.rstrip().endswith("Stopped."), up.text
    assert "Traceback" not in up.text
    assert exit_code == 0, up.text
    assert running(everyone) == set()  # up (and uv), the worker and all it started


def _worker_announced(up: Up) -> None:
    deadline = time.monotonic() + 60
    while up.worker_pid is None and up.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("launcher", [PYTHON, UV_RUN])
@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(lambda up: time.sleep(1), id="while-django-loads"),
        pytest.param(_worker_announced, id="while-the-worker-starts"),
    ],
)
def test_ctrl_c_while_up_starts_also_just_says_stopped(start_up, launcher, moment):
    up = start_up(launcher, free_port())
    moment(up)

    ctrl_c_twice(up)
    exit_code = up.wait_for_exit(timeout=30)

    assert up.text.rstrip().endswith("Stopped."), up.text
    assert "Traceback" not in up.text
    assert exit_code == 0, up.text
    # The worker leads a process group of its own: its pid is the group's id.
    worker = group(up.worker_pid) if up.worker_pid else set()
    assert running(group(up.process.pid) | worker) == set()


# Python reports an exception raised in a weakref callback (or a __del__) and carries on:
# a stop signal whose handler raised SystemExit there was lost, and up went on starting.
_SIGNAL_IN_A_WEAKREF_CALLBACK = """
import os, signal, sys, time, weakref
from soc.local import STOP_SIGNALS, _stop_while_starting
for signum in STOP_SIGNALS:
    signal.signal(signum, _stop_while_starting)
class Thing: pass
def collected(ref):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)
thing = Thing()
ref = weakref.ref(thing, collected)
del thing
print("went on starting", flush=True)
sys.exit(3)
"""


def test_ctrl_c_while_starting_stops_even_when_it_lands_in_a_finaliser():
    done = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", _SIGNAL_IN_A_WEAKREF_CALLBACK],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.stdout == "Stopped.\n", done.stdout + done.stderr
    assert done.returncode == 0


def test_up_on_a_port_already_in_use_says_so_and_starts_no_worker(start_up):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        up = start_up([sys.executable], taken.getsockname()[1])
        up.wait_for_exit(timeout=60)

    assert "That port is already in use." in up.text
    assert up.worker_pid is None, up.text  # runserver's exit would have left it running
    assert running(group(up.process.pid)) == set()


def _no_variables() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "LANG": "C.UTF-8"}


def _emails_with_links(mail_dir: Path, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        emails = [path.read_text() for path in sorted(mail_dir.glob("*.eml"))]
        if any("/respond/" in email for email in emails):
            return emails
        time.sleep(0.5)
    pytest.fail(f"no email with an answer link in {mail_dir} after {timeout} s")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (our server)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_on_a_fresh_clone_up_links_emails_to_its_port_and_lets_other_commands_run(
    fresh_clone,
):
    # The README's first command, on a port other than 8000, with no variables set.
    # (tests/test_readme_commands.py runs the README's other commands after it.)
    port = free_port()
    up = Up(
        subprocess.Popen(  # noqa: S603 (fixed argv)
            [sys.executable, "manage.py", "up", f"127.0.0.1:{port}"],
            cwd=fresh_clone,
            env={**_no_variables(), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    )
    try:
        up.wait_until_serving(port, worker_processes=6)
        # The admin's stylesheet and the app's icon are served, as runserver serves them.
        static = [
            _status(f"http://127.0.0.1:{port}/static/{path}")
            for path in ("admin/css/base.css", "soc/favicon.ico")
        ]
        # The demo's runbooks ask people by email: their links lead to this server.
        emails = _emails_with_links(fresh_clone / "var" / "mail", timeout=90)
    finally:
        ctrl_c_twice(up)
        up.wait_for_exit(timeout=30)

    assert f"http://127.0.0.1:{port}/admin/  user: analyst" in up.text
    assert static == [200, 200]
    links = re.findall(r"http://[^/\s]+/respond/", "".join(emails))
    assert links and set(links) == {f"http://127.0.0.1:{port}/respond/"}
    assert up.text.rstrip().endswith("Stopped.")

    def command(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(  # noqa: S603 (fixed argv)
            [sys.executable, "manage.py", *args],
            cwd=fresh_clone,
            env=_no_variables(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stderr}"
        return result

    people = "email,first_name,last_name\nnew.person@example.com,New,Person\n"
    (fresh_clone / "people.csv").write_text(people)
    command("import_directory", "people", "people.csv")
    assert command("shell", "-c", "print('shell works')").stdout.strip().endswith("shell works")
    # What lets them run: the file up wrote on its first run, and said so.
    assert f"Wrote {fresh_clone / '.env'} (DEBUG=true, a new SECRET_KEY)" in up.text
