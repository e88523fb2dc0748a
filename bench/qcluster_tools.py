"""What the qcluster benchmarks and drills add to bench/common.py: one environment shared
by this script's own Django, gunicorn and qcluster (common.Environment draws a new
SECRET_KEY per process, and the reply tokens of a world built earlier are derived from
it), qcluster started, SIGKILLed and restarted as a process group, and figure summaries.
"""

import contextlib
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import percentile, start_group

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = "postgres://postgres@127.0.0.1:5432"


# --- database and environment -----------------------------------------------------------


def database_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def _secret(var_dir: Path, name: str, make: Callable[[], str]) -> str:
    """A value kept in VAR_DIR across runs (the reply tokens of a world built earlier are
    derived from SECRET_KEY), readable by this user only, never printed."""
    path = var_dir / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def app_env(
    *, database: str, var_dir: Path, port: int, broker: str = "orm", redis_url: str = ""
) -> dict[str, str]:
    """The environment of every process of one run: this script's own Django, gunicorn
    and qcluster must agree on the database, the secrets and the broker."""
    var_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "soc.settings",
        "DEBUG": "false",
        "SECRET_KEY": _secret(var_dir, ".secret_key", lambda: secrets.token_urlsafe(50)),
        "SITE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "ANYMAIL_WEBHOOK_SECRET": _secret(
            var_dir, ".webhook_secret", lambda: f"bench:{secrets.token_urlsafe(24)}"
        ),
        "DATABASE_URL": database,
        "VAR_DIR": str(var_dir),
        "EMAIL_BACKEND": "mailflow.localmail.EmailBackend",
        "ALLOW_LOCAL_MAILBOX": "true",  # with DEBUG off, soc.E005 otherwise
        "Q_BROKER": broker,
        "LOG_LEVEL": "warning",
    }
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def use_env(env: dict[str, str]) -> None:
    """Make this process's Django read the same settings as the servers, then set it up."""
    os.environ.update(env)
    if not redis_url_of(env):
        os.environ.pop("REDIS_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def redis_url_of(env: dict[str, str]) -> str:
    return env.get("REDIS_URL", "") if env.get("Q_BROKER") == "redis" else ""


def manage(env: dict[str, str], *args: str, quiet: bool = True) -> None:
    subprocess.run(  # noqa: S603 (fixed argv, no shell)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


# --- processes --------------------------------------------------------------------------


def start_gunicorn(env: dict[str, str], port: int, log: Path, workers: int = 2):
    args = [sys.executable, "-m", "gunicorn", "soc.wsgi", "-w", str(workers)]
    process = start_group([*args, "-b", f"127.0.0.1:{port}", "--timeout", "120"], env, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}; see {log}")
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"gunicorn did not listen on {port}; see {log}")


def start_qcluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A cluster in its own process group (common.start_group), so kill() reaches the
    pusher, the workers and the monitor it forked."""
    return start_group([sys.executable, "manage.py", "qcluster"], env, log)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group: the cluster, its pusher, workers and monitor die
    mid-whatever, as in a crash or an OOM kill."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Ask politely, then kill what is left of the group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    kill(process)


# --- figures ----------------------------------------------------------------------------


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else float("nan"),
    }


def seconds(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f} s"  # NaN: no data


class Cluster:
    """One qcluster at a time, which the drills kill and restart from another thread."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.lock = threading.Lock()
        self.kills = 0
        self.process = start_qcluster(env, log)

    def kill_and_restart(self) -> None:
        with self.lock:
            kill(self.process)
            self.kills += 1
            self.process = start_qcluster(self.env, self.log)

    def stop(self) -> None:
        with self.lock:
            stop(self.process)


def kill_loop(cluster: Cluster, every: tuple[float, float], done: threading.Event) -> None:
    """SIGKILL the cluster at random intervals until `done`: mid-task, mid-commit, mid-
    send or while it is still starting, wherever the moment falls."""
    while not done.wait(random.uniform(*every)):
        cluster.kill_and_restart()
