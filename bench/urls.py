"""The benchmark server's extra views, beside the app's own URLs: the baseline, and the
floors that show what part of the gap to it no design that keeps a post before
acknowledging it can avoid (bench/webhook_ingest.py). None authenticates, parses or
enqueues. Those that use the database send one statement in autocommit (plus Django's
health check of the persistent connection, as every view of the app); the last three
show what a design that spools posts to disk and leaves the database to a worker would
wait for."""

import os
import tempfile

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.common import BASELINE_PATH, FLOOR_PATHS, FLOOR_TABLE
from soc.urls import urlpatterns as soc_urlpatterns

# A constant (S608: no input in the SQL text).
_INSERT = f"INSERT INTO {FLOOR_TABLE} (path, size, body) VALUES (%s, %s, %s)"  # noqa: S608


@csrf_exempt
def baseline(request: HttpRequest) -> HttpResponse:
    """What any Django view must do with a webhook post: read the whole body, answer 200.
    read() rather than .body, which would refuse posts over Django's 2.5 MB limit."""
    request.read()
    return _ok()


def _ok() -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def _keep(path: str, size: int, body: bytes | None) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [path, size, body])
    return _ok()


@csrf_exempt
def commit_floor(request: HttpRequest) -> HttpResponse:
    """Read the body, commit one empty row: the least any durable acknowledgement waits
    for, whatever the post is stored as."""
    return _keep("", len(request.read()), None)


@csrf_exempt
def row_floor(request: HttpRequest) -> HttpResponse:
    """Keep the post in the database: one row holding the body."""
    body = request.read()
    return _keep("", len(body), body)


# Beside the app's own posts; made once, not on every post the floor is timed on.
FILE_FLOOR_FOLDER = settings.INBOUND_ROOT / "floor"
FILE_FLOOR_FOLDER.mkdir(parents=True, exist_ok=True)


def _copy(request: HttpRequest, *, fsync: bool = False) -> tuple[str, int]:
    """Copy the body to a new file in 64 KB chunks, as the app does; its name and size."""
    size = 0
    with tempfile.NamedTemporaryFile(dir=FILE_FLOOR_FOLDER, delete=False) as file:
        while chunk := request.read(64 * 1024):
            file.write(chunk)
            size += len(chunk)
        if fsync:
            file.flush()
            os.fsync(file.fileno())
    return file.name, size


@csrf_exempt
def file_floor(request: HttpRequest) -> HttpResponse:
    """Keep the post in a file left in the page cache (the app's way before it flushed
    its files), and a committed row naming it."""
    return _keep(*_copy(request), None)


@csrf_exempt
def ping_floor(request: HttpRequest) -> HttpResponse:
    """Ask the database one question, keep the post in a file: the least a webhook does
    that must answer non-2xx while the database is down (RELIABILITY), write or not."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    _copy(request)
    return _ok()


@csrf_exempt
def spool_floor(request: HttpRequest) -> HttpResponse:
    """Keep the post in a file only, left in the page cache: it survives the process, not
    the machine, and the webhook cannot notice the database is down."""
    _copy(request)
    return _ok()


@csrf_exempt
def fsync_floor(request: HttpRequest) -> HttpResponse:
    """Keep the post in a file only, flushed to disk before answering: a spool that
    survives the machine, as a database commit does."""
    _copy(request, fsync=True)
    return _ok()


_FLOOR_VIEWS = {
    "commit": commit_floor,
    "row": row_floor,
    "file": file_floor,
    "ping": ping_floor,
    "spool": spool_floor,
    "fsync": fsync_floor,
}

urlpatterns = [
    path(BASELINE_PATH.strip("/") + "/", baseline),
    *(path(FLOOR_PATHS[name].strip("/") + "/", view) for name, view in _FLOOR_VIEWS.items()),
    *soc_urlpatterns,
]
