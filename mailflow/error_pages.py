"""Django's error handler (handler500): what a person sees when something fails on our side.

On the answer page, a database that is locked (SQLite, past its busy timeout) or down
shows a 503 page, anything else a 500 page; both in the answer page's style and security
headers, in the browser's language first (the person's own is in the database, which may
be what failed), telling them to try again in a minute. Nothing here touches the
database: the pages render without the request, so no context processor reads the
session or the user.

The provider webhooks and the API keep machine answers: plain text or JSON, and 503 with
Retry-After for an outage, so a provider retries.
"""

import logging
import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import get_template
from django.utils.translation.trans_real import parse_accept_lang_header

from mailflow.views import page_headers
from mailflow.webhook_errors import DATABASE_OUTAGE, WEBHOOK_PREFIX
from runbooks.translations import LANGUAGES

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
ANSWER_PREFIX = "/respond/"
RETRY_AFTER_SECONDS = 60
# If even the template fails, these few words, with the same headers.
FALLBACK = {
    500: "Something went wrong on our side. Please try again in a minute.",
    503: "The service is temporarily unavailable. Please try again in a minute.",
}


def server_error(http: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except` block: the exception is still at hand.
    error = sys.exc_info()[1]
    status = 503 if isinstance(error, DATABASE_OUTAGE) else 500
    if http.path_info.startswith(WEBHOOK_PREFIX):
        response = _webhook_answer(status)
    elif http.path_info.startswith(API_PREFIX):
        response = _api_answer(status)
    else:
        response = _page(http, status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _webhook_answer(status: int) -> HttpResponse:
    # As mailflow.webhook_middleware answers the same failures inside the views.
    text = {
        500: "Server error; please retry.\n",
        503: "Temporarily unable to store this event; please retry.\n",
    }
    return HttpResponse(text[status], status=status, content_type="text/plain")


def _api_answer(status: int) -> HttpResponse:
    detail = {500: "Server error.", 503: "Temporarily unavailable; retry in a minute."}
    return JsonResponse({"detail": detail[status]}, status=status)


@page_headers
def _page(http: HttpRequest, status: int) -> HttpResponse:
    languages = browser_languages(http)
    try:
        # The answer page's people came from an email; analysts get the same page without
        # the email's instructions.
        answering = http.path_info.startswith(ANSWER_PREFIX)
        context = {"languages": languages, "answering": answering}
        body = get_template(f"{status}.html").render(context)
    except Exception:  # the error page itself must never fail
        logger.exception("The %s error page could not be rendered", status)
        return HttpResponse(FALLBACK[status], status=status, content_type="text/plain")
    return HttpResponse("" if http.method == "HEAD" else body, status=status)


def browser_languages(http: HttpRequest) -> list[str]:
    """The answer page's languages, the browser's preferred one first."""
    accepted = parse_accept_lang_header(http.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    wanted = [code.split("-")[0] for code, _quality in accepted]
    first = next((code for code in wanted if code in LANGUAGES), LANGUAGES[0])
    return [first, *(code for code in LANGUAGES if code != first)]
