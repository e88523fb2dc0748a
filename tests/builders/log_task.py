"""A background task that writes one log line, to see what the worker's lines carry."""

import logging


def log_a_line(text: str) -> None:
    logging.getLogger("tests.task").warning(text)
