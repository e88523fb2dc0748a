"""A throwaway PostgreSQL cluster, for drills that stop the database: never the machine's
shared server, which other work depends on. Run as the `postgres` OS user when we are
root (initdb and the server refuse to run as root)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin_dir() -> Path:
    root = Path("/usr/lib/postgresql")
    versions = sorted(root.iterdir(), key=lambda p: int(p.name)) if root.is_dir() else []
    if not versions:
        found = shutil.which("pg_ctl")
        if not found:
            raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found")
        return Path(found).parent
    return versions[-1] / "bin"


class ThrowawayCluster:
    def __init__(self, port: int) -> None:
        self.port = port
        self.bin = _bin_dir()
        self.directory = Path(tempfile.mkdtemp(prefix="pgdrill-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (fixed argv)

    def create(self) -> "ThrowawayCluster":
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self

    def start(self) -> None:
        # -w: wait until it accepts connections; the socket lives in our own folder.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: open connections are cut, as when a database server fails."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
