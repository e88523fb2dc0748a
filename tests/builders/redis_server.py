"""A private redis-server on a free loopback port, without persistence: tests that need a
real Redis never touch a shared one."""

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    """Its URL while the block runs (skips the test without redis-server)."""
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen(args, cwd=folder, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
