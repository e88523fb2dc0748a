"""Running on a laptop: what `manage.py up` arranges before Django reads its settings.
Nothing here imports Django."""

import os
import signal

# Ctrl-C (SIGINT), a service manager or `timeout` (SIGTERM), a closed terminal (SIGHUP).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_while_starting(signum: int, frame: object) -> None:
    # Nothing has started yet that needs stopping: end at once, in the same words as a
    # stop later on, and ignore the copy of Ctrl-C that `uv run` passes on.
    for other in STOP_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    print("Stopped.", flush=True)
    raise SystemExit(0)


def prepare_up() -> None:
    """Until the command takes over its stop signals, a stop ends `up` quietly rather
    than with a traceback from whatever Django was importing. `up` runs in DEBUG unless
    told otherwise, so a fresh clone starts without configuration; production never runs
    it and gets DEBUG off by default."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_while_starting)
    os.environ.setdefault("DEBUG", "true")
