import tempfile

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bench.common import BASELINE_PATH, FLOOR_PATH, FLOOR_TABLE
from soc.urls import urlpatterns as soc_urlpatterns


@csrf_exempt
def baseline(request: HttpRequest) -> HttpResponse:
    """What any Django view must do with a webhook post: read the whole body, answer 200.
    read() rather than .body, which would refuse posts over Django's 2.5 MB limit."""
    request.read()
    return HttpResponse(b"ok", content_type="text/plain")


# Beside the app's own posts; made once, not on every post the floor is timed on.
FLOOR_FOLDER = settings.INBOUND_ROOT / "floor"
FLOOR_FOLDER.mkdir(parents=True, exist_ok=True)


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """The least any design that keeps a post before acknowledging it must do, in the
    app's way: copy the body to a file in 64 KB chunks, insert one row naming it, commit
    (autocommit: one statement, one commit). No authentication, parsing or enqueueing."""
    size = 0
    with tempfile.NamedTemporaryFile(dir=FLOOR_FOLDER, delete=False) as file:
        while chunk := request.read(64 * 1024):
            file.write(chunk)
            size += len(chunk)
    insert = f"INSERT INTO {FLOOR_TABLE} (path, size) VALUES (%s, %s)"  # noqa: S608 (a constant)
    with connection.cursor() as cursor:
        cursor.execute(insert, [file.name, size])
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path(BASELINE_PATH.strip("/") + "/", baseline),
    path(FLOOR_PATH.strip("/") + "/", floor),
    *soc_urlpatterns,
]
