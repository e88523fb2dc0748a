"""The production settings plus a bare baseline view, so the baseline is served by the
same gunicorn, middleware and workers as the app it is compared with."""

from soc.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
