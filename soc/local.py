"""Running on a laptop: what `manage.py up` arranges before Django reads its settings."""

import os
import signal
import sys
from pathlib import Path

from soc.envfile import create_local_env_file, env_file_path, load_env_file

# Ctrl-C (SIGINT), a service manager or `timeout` (SIGTERM), a closed terminal (SIGHUP).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def ignore_stop_signals() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _stop_while_starting(signum: int, frame: object) -> None:
    # Nothing has started yet that needs stopping: end at once, in the same words as a
    # stop later on, and ignore the copy of Ctrl-C that `uv run` passes on. os._exit, not
    # SystemExit: a handler runs wherever the interpreter is, and an exception raised in a
    # finaliser or weakref callback is printed and dropped, so `up` would go on starting.
    ignore_stop_signals()
    print("Stopped.", flush=True)
    os._exit(0)


def prepare_up(base_dir: Path) -> None:
    """1. Until the command takes over its stop signals, a stop ends `up` quietly rather
       than with a traceback from whatever Django was importing.
    2. On the first run, write the local `.env` (DEBUG and a new SECRET_KEY) for every
       later command. Before the settings are read, so that this run, its worker and
       every later command sign with the same key: the worker builds the answer links
       that the web server checks.
    3. `up` runs in DEBUG unless the environment or `.env` says otherwise, so a fresh
       clone starts without configuration; production never runs it and gets DEBUG off
       by default."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_while_starting)
    env_file = env_file_path(base_dir)
    try:
        if create_local_env_file(env_file):
            print(f"Wrote {env_file} (DEBUG=true, a new SECRET_KEY) for manage.py commands.")
    except OSError as exc:
        message = f"Could not write {env_file} ({exc}): other commands need DEBUG=true set."
        print(message, file=sys.stderr)
    load_env_file(env_file)
    os.environ.setdefault("DEBUG", "true")
