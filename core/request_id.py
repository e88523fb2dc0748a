"""A request id on every log line of a request, and on its response.

The proxy in front may send one (X-Request-ID, as nginx's $request_id or a load balancer
does), so its access log and ours share it; anything else gets a fresh one. The id is the
client's choice when there is no proxy, so only a short run of safe characters is taken:
it can neither forge a log line nor bloat one.
"""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core import log_context

HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def request_id_from(request: HttpRequest) -> str:
    offered = request.headers.get(HEADER, "")
    if _WELL_FORMED.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE. The context is set, not reset, at the end: Django logs an error
    response's line after every middleware has returned, and that line belongs to this
    request too. The next request in the thread starts from a clean context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request)
        log_context.clear()
        log_context.set_request_id(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response
