"""The JSON log lines written while a block runs, through the production handler's
filters and formatter (core.logging)."""

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator

from core import log_context
from core.logging import ContextFilter, JsonFormatter, RedactSecretsFilter


@contextlib.contextmanager
def json_log_lines() -> Iterator[Callable[[], list[dict]]]:
    """A function returning the lines written so far, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        log_context.clear()
