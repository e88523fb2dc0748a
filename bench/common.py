"""What every benchmark and drill shares: a PostgreSQL database of its own, a
production-like environment, a gunicorn server, worker memory, percentiles, an asyncio
HTTP/1.1 load generator and the figures table.

Standard library only (psycopg and gunicorn are already dependencies of the app)."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_ingest"
# The bare Django view the app is compared with (bench/urls.py, served by the same server).
BASELINE_PATH = "/bench/baseline/"
# Bare views that only keep each post, or only commit (bench/urls.py): the floors, by the
# name the views and the report go by, with what each does.
FLOORS = {
    "commit": "commit one empty row",
    "row": "keep the post in a row",
    "file": "keep the post in a file + row",
    "ping": "SELECT 1, then the post in a file",
    "spool": "the post in a file, no database",
    "fsync": "the post in a file, fsync, no database",
}
FLOOR_PATHS = {name: f"/bench/floor/{name}/" for name in FLOORS}
FLOOR_TABLE = "bench_floor"


# --- conditions -------------------------------------------------------------------------


def cpu_probe() -> float:
    """Milliseconds one core takes for a fixed piece of pure Python (best of five), so
    figures from different runs can be compared: this machine's speed drifts by a third
    within hours, and a goal met at one speed can be missed at another."""
    import hashlib
    import json

    def work() -> None:
        for number in range(12000):
            record = {"id": number, "name": f"person-{number}", "tags": ["a", "b", str(number)]}
            hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    timings = []
    for _ in range(5):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def conditions() -> str:
    """One line saying what the machine was doing, printed before any figure."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, load average {load} at start, CPU probe "
        f"{cpu_probe():.1f} ms (lower is faster), Python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )


# --- PostgreSQL -------------------------------------------------------------------------


def _admin_url(database_url: str) -> tuple[str, str]:
    """The URL of the server's maintenance database, and the database's name."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name or not parts.scheme.startswith("postgres"):
        raise SystemExit(f"Not a PostgreSQL database URL: {parts.scheme}://…/{name}")
    return urlunsplit(parts._replace(path="/postgres")), name


def create_database(database_url: str, *, fresh: bool = False) -> None:
    """CREATE DATABASE if missing (DROP first when `fresh`). CREATE DATABASE cannot run in
    a transaction, hence autocommit."""
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(database_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if fresh:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(database_url)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def sql_query(database_url: str, query: str, params: Sequence = ()) -> list[tuple]:
    """One statement on the benchmark's database (counts after a run, truncating before)."""
    import psycopg

    with psycopg.connect(_libpq_url(database_url), autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(query, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def _libpq_url(database_url: str) -> str:
    # dj-database-url accepts postgres:// and postgresql://; libpq reads both as well.
    return database_url


# --- environment and processes ----------------------------------------------------------


@dataclass
class Environment:
    """A production-like configuration (DEBUG off, every required setting) with its files
    in a temporary folder. The secrets are random per run and never printed."""

    database_url: str
    # One per environment: the server signs the tasks it enqueues, the qcluster checks them.
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(50))
    var_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="soc-bench-")))
    webhook_secret: str = field(default_factory=lambda: f"bench:{secrets.token_urlsafe(16)}")
    mailgun_signing_key: str = field(default_factory=lambda: secrets.token_hex(16))
    extra: dict[str, str] = field(default_factory=dict)

    def variables(self, port: int = 8000) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ANYMAIL_", "DJANGO_", "DATABASE_", "Q_", "REDIS_"))
        }
        env.update(
            DEBUG="false",
            # The drills read what was "sent" in the local mailbox (soc.E005 otherwise).
            ALLOW_LOCAL_MAILBOX="true",
            SECRET_KEY=self.secret_key,
            SITE_URL=f"http://127.0.0.1:{port}",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            ANYMAIL_WEBHOOK_SECRET=self.webhook_secret,
            ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY=self.mailgun_signing_key,
            DATABASE_URL=self.database_url,
            VAR_DIR=str(self.var_dir),
            Q_BROKER="orm",
            LOG_LEVEL="warning",
            DJANGO_SETTINGS_MODULE="bench.settings",
            PYTHONPATH=str(ROOT),
        )
        env.update(self.extra)
        return env

    def auth_header(self) -> str:
        import base64

        return "Basic " + base64.b64encode(self.webhook_secret.encode()).decode("ascii")

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(  # noqa: S603 (fixed argv, no shell)
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.variables(),
            check=check,
            capture_output=True,
            text=True,
        )

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.var_dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_group(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A child in its own session (process group), so stop_group ends it and everything it
    started, and nothing else."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (our own argv, no shell)
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_group(process: subprocess.Popen, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass


@dataclass
class Server:
    """gunicorn with N sync workers (the deployment the README describes) on a free port."""

    env: Environment
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.env.var_dir / "gunicorn.log"

    def start(self, timeout: float = 60) -> "Server":
        # sys.executable is the project's virtualenv Python under `uv run`; calling it
        # directly (not `uv run gunicorn`) makes the master our child, so its pid is known.
        args = [sys.executable, "-m", "gunicorn", "soc.wsgi", "--workers", str(self.workers)]
        args += ["--bind", f"127.0.0.1:{self.port}", "--timeout", "120"]
        self.process = start_group(args, self.env.variables(self.port), self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(
                    f"gunicorn exited; see {self.log}:\n{self.log.read_text()[-3000:]}"
                )
            if len(self.worker_pids()) == self.workers and _answers(self.port):
                return self
            time.sleep(0.2)
        raise SystemExit(f"gunicorn not ready after {timeout} s; see {self.log}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(port: int) -> bool:
    """Any HTTP answer to GET / (a 404 will do): the workers have loaded the app."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(
                b"GET /bench/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            return sock.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


# --- CPU --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time a single-threaded process (a PostgreSQL backend, say) has run so far, in
    seconds, to the nanosecond (/proc/<pid>/schedstat; /proc/<pid>/stat counts in 10 ms
    ticks). Unlike wall time it leaves out waiting for a core, but it still moves with this
    machine's speed: compare variants run side by side."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


# --- memory -----------------------------------------------------------------------------


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) * 1024
    return 0


def rss(pid: int) -> int:
    """Resident memory now, in bytes."""
    return _status_kb(pid, "VmRSS")


def peak_rss(pid: int) -> int:
    """Peak resident memory (VmHWM) since start or the last reset_peak_rss, in bytes."""
    return _status_kb(pid, "VmHWM")


def reset_peak_rss(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so each case
    gets its own peak."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


# --- figures ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), nearest rank: a value that was actually observed."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def mb(size: float) -> str:
    return f"{size / 1024 / 1024:.1f} MB"


def print_table(rows: Iterable[Sequence[object]], headers: Sequence[str]) -> None:
    text = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in text:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


# --- load generator ---------------------------------------------------------------------


@dataclass
class Result:
    number: int  # which message
    start: float  # when it was due (open loop) or sent (closed loop), loop time
    latency: float  # seconds from start to the last response byte
    status: int  # HTTP status; 0 when the connection failed
    attempts: int = 1
    statuses: list[tuple[float, int]] = field(default_factory=list)  # (time, status) each try


Request = Callable[[int], tuple[str, dict[str, str], bytes]]  # number -> path, headers, body


class Client:
    """HTTP/1.1 to one host with a pool of keep-alive connections. gunicorn's sync workers
    close after each response, so connections are reused only where the server allows."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 120) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """The response's status, or 0 when the connection failed (server down, reset)."""
        try:
            return await asyncio.wait_for(self._post(path, headers, body), self.timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            return 0

    async def _post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        reader, writer = self._idle.pop() if self._idle else await self._connect()
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        try:
            writer.write(head.encode("latin-1") + b"\r\n")
            writer.write(body)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise asyncio.IncompleteReadError(b"", None)
            status = int(status_line.split()[1])
            length, close = 0, status_line.startswith(b"HTTP/1.0")
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = value == "close"
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return status

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass
class Retry:
    """A provider's behaviour: post again after a non-2xx or a failed connection, with
    exponential backoff (compressed from minutes to seconds), until acknowledged."""

    first: float = 0.25
    longest: float = 2.0
    give_up_after: float = 120.0


async def _send(
    client: Client, request: Request, number: int, start: float, retry: Retry | None
) -> Result:
    loop = asyncio.get_running_loop()
    path, headers, body = request(number)
    result = Result(number, start, 0.0, 0, 0)
    delay = retry.first if retry else 0.0
    while True:
        result.status = await client.post(path, headers, body)
        result.attempts += 1
        result.statuses.append((loop.time(), result.status))
        if retry is None or 200 <= result.status < 300:
            break
        if loop.time() - start > retry.give_up_after:
            break
        await asyncio.sleep(delay)
        delay = min(delay * 2, retry.longest)
    result.latency = loop.time() - start
    return result


async def open_loop(
    client: Client,
    request: Request,
    *,
    rate: float,
    duration: float,
    max_in_flight: int = 256,
    retry: Retry | None = None,
    first_number: int = 0,
) -> list[Result]:
    """Messages arrive at `rate` per second whatever the server does (as providers post),
    for `duration` seconds. Latency counts from when each message was due, so a stalled
    server shows in the percentiles instead of slowing the generator (no coordinated
    omission)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(max_in_flight)
    begin = loop.time()

    async def one(number: int, due: float) -> Result:
        async with gate:
            return await _send(client, request, number, due, retry)

    tasks = []
    for index in range(int(rate * duration)):
        due = begin + index / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(first_number + index, due)))
    return list(await asyncio.gather(*tasks))


async def closed_loop(
    client: Client,
    request: Request,
    *,
    concurrency: int,
    duration: float | None = None,
    count: int | None = None,
    first_number: int = 0,
) -> tuple[list[Result], float]:
    """`concurrency` senders post back to back (the next as soon as the last is answered)
    until `duration` seconds or `count` messages: the server's maximum throughput.
    Returns the results and the elapsed time."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    numbers = iter(range(first_number, first_number + (count or 10**12)))
    results: list[Result] = []

    async def sender() -> None:
        while duration is None or loop.time() - begin < duration:
            number = next(numbers, None)
            if number is None:
                return
            results.append(await _send(client, request, number, loop.time(), None))

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return results, loop.time() - begin


def summarise(results: Sequence[Result], elapsed: float) -> dict[str, float]:
    ok = [r for r in results if 200 <= r.status < 300]
    latencies = [r.latency for r in ok]
    return {
        "sent": len(results),
        "ok": len(ok),
        "rate": len(ok) / elapsed if elapsed else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")),
    }
