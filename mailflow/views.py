"""The answer page for end users (no login), reached from the email's option links.

GET/HEAD /respond/<token>/?choice=yes  checks the token, keeps the request id (never the
                                       token) in the session and redirects to the
                                       token-free address. Changes nothing but counters.
GET  /respond/?choice=yes              the question with that option pre-selected.
POST /respond/                         the only thing that records an answer: a person
                                       clicked the button.
GET  /respond/thanks/                  what was recorded, or that an answer held as a
                                       possible mail scanner will be confirmed.

Invalid, expired, withdrawn and closed all show the same neutral page with status 200, so
nothing tells a guesser which one it was.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile as DjangoUploadedFile
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.backends.django import Template
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from core.client_ip import client_ip
from core.errors import DomainError
from core.text import storable
from incidents.filenames import display_filename
from incidents.models import Evidence
from incidents.sniffing import SNIFF_BYTES, detect_content_type
from mailflow import page_services as pages
from mailflow.answers import UploadedFile, answer_record
from mailflow.emails import SUSPICIOUS_LABEL, request_language
from mailflow.models import Answer, ConfirmationRequest
from mailflow.scanners import looks_like_scanner
from mailflow.what_next import next_text
from runbooks.outcomes import SUSPICIOUS

# Defaults; soc/settings.py reads each ANSWER_* from the environment.
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024
ALLOWED_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/heic",
    "application/pdf",
    "text/plain",
)
MIN_SECONDS_AFTER_SEND = 5
MAX_COMMENT = 2000
# Room for the comment, the CSRF token and multipart boundaries on top of the files.
BODY_OVERHEAD = 1024 * 1024

SESSION_REQUEST = "mailflow.respond.request"
SESSION_ANSWER = "mailflow.respond.answer"

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

# The answer page's messages, in the person's language (gettext, rendered under it).
ERRORS = {
    "choice": gettext_lazy("Please choose one of the answers."),
    "comment": gettext_lazy("The comment is too long: at most %(n)s characters."),
    "too_many": gettext_lazy("Please attach at most %(n)s files."),
    "empty": gettext_lazy("“%(name)s” is empty."),
    "too_big": gettext_lazy("“%(name)s” is larger than %(mb)s MB."),
    "total": gettext_lazy("The files together are larger than %(mb)s MB."),
    "type": gettext_lazy(
        "“%(name)s” cannot be accepted: please attach pictures (PNG, JPEG, GIF, WebP, "
        "HEIC), PDF or text files."
    ),
}


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def page_headers(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The answer pages' headers on every response, errors included. Referrer-Policy is
    only a default: the question page relaxes it (see `_question`)."""

    @wraps(view)
    def wrapped(http: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(http, *args, **kwargs)
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response["X-Frame-Options"] = "DENY"
        response["Cache-Control"] = "no-store"
        response["Content-Security-Policy"] = CSP
        response["X-Content-Type-Options"] = "nosniff"
        return response

    return wrapped


# --- views ------------------------------------------------------------------------------


@page_headers
@require_http_methods(["GET", "HEAD"])
def land(http: HttpRequest, token: str) -> HttpResponse:
    client = pages.ip_hash(client_ip(http))
    if pages.guessing_blocked(client):
        return _too_many(http)
    request = pages.request_for_token(token)
    if request is None:
        pages.guess_note(client)
        return _neutral(http)
    if not pages.request_hit_allowed(request):
        return _too_many(http)
    if not pages.request_is_usable(request):
        return _neutral(http)
    choice = http.GET.get("choice", "")[:30]
    reason = pages.scanner_reason(
        request=request, method=http.method or "", user_agent=_user_agent(http), choice=choice
    )
    if reason:
        # Counted, but the visitor sees the same redirect as a person: nothing to learn.
        pages.request_note_scanner_visit(request=request, reason=reason)
    if http.method == "GET":
        http.session[SESSION_REQUEST] = request.pk
    query = f"?{urlencode({'choice': choice})}" if choice else ""
    return HttpResponseRedirect(reverse("mailflow:respond") + query)


# csrf_exempt here only so the body size is checked before the CSRF check parses the body;
# `_post` is wrapped in csrf_protect, which runs Django's CSRF middleware on it.
@csrf_exempt
@page_headers
@require_http_methods(["GET", "HEAD", "POST"])
def respond(http: HttpRequest) -> HttpResponse:
    request = pages.request_for_page(http.session.get(SESSION_REQUEST))
    if request is None:
        return _neutral(http)
    if http.method != "POST":
        return _question(http, request, choice=http.GET.get("choice", ""))
    if not pages.request_hit_allowed(request):
        return _too_many(http)
    if _body_too_large(http):
        total = _mb(_setting("ANSWER_MAX_TOTAL_BYTES", MAX_TOTAL_BYTES))
        return _question(http, request, errors=[_error(request, "total", mb=total)], status=400)
    return _post(http, request)


@csrf_protect
def _post(http: HttpRequest, request: ConfirmationRequest) -> HttpResponse:
    choice = http.POST.get("choice", "")
    # Browsers count a line break as one character against maxlength but send "\r\n".
    # Free text: what the database refuses (NUL) goes, as for every outside text.
    comment = storable(http.POST.get("comment", "")).replace("\r\n", "\n").strip()
    files = http.FILES.getlist("files") if request.evidence_requested else []
    errors = _validate(request, choice, comment, files)
    if errors:
        return _question(http, request, choice=choice, comment=comment, errors=errors, status=400)
    user_agent = _user_agent(http)
    client = pages.ip_hash(client_ip(http))
    try:
        answer = answer_record(
            request=request,
            option_key=choice,
            channel=Answer.Channel.PAGE,
            sender=request.person.full_name if request.person else "",
            comment=comment,
            suspected_automated=_too_soon(request) or looks_like_scanner(user_agent),
            ip_hash=client,
            user_agent=user_agent,
            files=[UploadedFile(f, f.name or "", f.content_type or "") for f in files],
            provenance={"ip_hash": client, "user_agent": user_agent},
        )
    except DomainError as error:
        return _question(
            http, request, choice=choice, comment=comment, errors=[str(error)], status=400
        )
    http.session[SESSION_ANSWER] = answer.pk
    response = HttpResponseRedirect(reverse("mailflow:respond_thanks"))
    response.status_code = 303  # the browser follows with a GET: reload never re-posts
    return response


@page_headers
@require_http_methods(["GET", "HEAD"])
def thanks(http: HttpRequest) -> HttpResponse:
    # Not limited to usable requests: the answer may just have closed the incident.
    answer_id, request_id = http.session.get(SESSION_ANSWER), http.session.get(SESSION_REQUEST)
    answer = (
        Answer.objects.select_related("request").filter(pk=answer_id, request_id=request_id).first()
        if isinstance(answer_id, int) and isinstance(request_id, int)
        else None
    )
    if answer is None:
        return _neutral(http)
    request = answer.request
    files = Evidence.objects.filter(
        incident_id=request.incident_id, provenance__answer=answer.pk
    ).count()
    held = answer.suspected_automated and not answer.counted
    # A held answer accepted since, or sent again, is no longer held: say what counted.
    settled = request.answers.filter(counted=True).first() if held else None
    counted = settled or (answer if answer.counted else None)
    context = {
        "label": _label(request, (settled or answer).option_key),
        "held": held and settled is None,
        "comment": answer.comment,
        "files": files,
        # Only for the answer the runbook acts on: a late or changed one waits for an analyst.
        "next": next_text(request, counted.option_key) if counted else "",
    }
    return _render_for(http, request, "thanks", context)


# --- checks -----------------------------------------------------------------------------


def _validate(
    request: ConfirmationRequest, choice: str, comment: str, files: list[DjangoUploadedFile]
) -> list[str]:
    """Messages for everything wrong with the form, in the person's language."""
    errors = []
    if choice not in {option["key"] for option in request.options} | {SUSPICIOUS}:
        errors.append(_error(request, "choice"))
    if len(comment) > MAX_COMMENT:
        errors.append(_error(request, "comment", n=MAX_COMMENT))
    max_files = _setting("ANSWER_MAX_FILES", MAX_FILES)
    if len(files) > max_files:
        return [*errors, _error(request, "too_many", n=max_files)]
    max_bytes = _setting("ANSWER_MAX_FILE_BYTES", MAX_FILE_BYTES)
    allowed = set(_setting("ANSWER_ALLOWED_TYPES", ALLOWED_TYPES))
    for file in files:
        name = display_filename(file.name)
        if not file.size:
            errors.append(_error(request, "empty", name=name))
        elif file.size > max_bytes:
            errors.append(_error(request, "too_big", name=name, mb=_mb(max_bytes)))
        elif _sniff(file) not in allowed:
            # The bytes decide, never the name or the browser's claimed type.
            errors.append(_error(request, "type", name=name))
    max_total = _setting("ANSWER_MAX_TOTAL_BYTES", MAX_TOTAL_BYTES)
    if sum(file.size or 0 for file in files) > max_total:
        errors.append(_error(request, "total", mb=_mb(max_total)))
    return errors


def _sniff(file: DjangoUploadedFile) -> str:
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    return detect_content_type(head)


def _body_too_large(http: HttpRequest) -> bool:
    """Refuse an oversized upload from its Content-Length, before Django parses it."""
    try:
        length = int(http.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    return length > _setting("ANSWER_MAX_TOTAL_BYTES", MAX_TOTAL_BYTES) + BODY_OVERHEAD


def _too_soon(request: ConfirmationRequest) -> bool:
    """Answered within seconds of the email going out: a scanner that clicks, not a
    person who read the question."""
    times = [t for t in (request.sent_at, request.delivered_at) if t]
    if not times:
        return False
    elapsed = (timezone.now() - max(times)).total_seconds()
    return elapsed < _setting("ANSWER_MIN_SECONDS_AFTER_SEND", MIN_SECONDS_AFTER_SEND)


# --- rendering --------------------------------------------------------------------------


def _render(
    http: HttpRequest, template: Template, context: dict, status: int = 200
) -> HttpResponse:
    # HEAD gets the status and headers only, whatever server runs the app.
    body = "" if http.method == "HEAD" else template.render(context, request=http)
    return HttpResponse(body, status=status)


def _render_for(
    http: HttpRequest, request: ConfirmationRequest, page: str, context: dict, status: int = 200
) -> HttpResponse:
    """A page of the request, in its person's language (the question and options come
    translated in the request; the page's own words from the gettext catalogues)."""
    language = request_language(request)
    with translation.override(language):
        template = select_template([f"mailflow/respond/{page}.html"])
        context = {**context, "language_code": language.split("-")[0]}
        response = _render(http, template, context, status)
    response["Content-Language"] = language
    return response


def _question(
    http: HttpRequest,
    request: ConfirmationRequest,
    *,
    choice: str = "",
    comment: str = "",
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    counted = request.answers.filter(counted=True).first()
    held = counted is None and request.answers.filter(suspected_automated=True).exists()
    context = {
        "question": request.question,
        "options": request.options,
        "evidence_requested": request.evidence_requested,
        "choice": choice,
        "suspicious": SUSPICIOUS,
        "suspicious_label": SUSPICIOUS_LABEL,
        "comment": comment,
        "max_comment": MAX_COMMENT,
        "errors": errors or [],
        "recorded_label": _label(request, counted.option_key) if counted else "",
        "held": held,
        "max_files": _setting("ANSWER_MAX_FILES", MAX_FILES),
        "max_file_mb": _mb(_setting("ANSWER_MAX_FILE_BYTES", MAX_FILE_BYTES)),
    }
    page = "question"
    if request.kind == ConfirmationRequest.Kind.APPROVAL:
        # An approver's page: the same form, saying what is asked (mailflow.approvals).
        page = "approval"
        context |= {
            "language": request_language(request),
            "incident_number": request.incident.number,
            "body": request.body,
        }
    response = _render_for(http, request, page, context, status)
    # This page holds the form. Under "no-referrer" browsers send "Origin: null" with its
    # POST (and no Referer), which Django's CSRF check refuses. "same-origin" tells only
    # this site this page's address, which carries no token (the landing redirect and
    # every other page keep "no-referrer").
    response["Referrer-Policy"] = "same-origin"
    return response


# The pages that know no person (the link is unknown, or too many tries): their words in
# every language, English first.
NEUTRAL = (
    gettext_lazy("This link is no longer valid"),
    gettext_lazy(
        "This link is no longer valid, or the question has already been settled. There is "
        "nothing more you need to do. If you have questions, please contact your IT security "
        "team."
    ),
)
LIMITED = (
    gettext_lazy("Too many requests"),
    gettext_lazy("Please wait a few minutes, then open the link in the email again."),
)


def _in_every_language(heading: str, text: str) -> list[dict[str, str]]:
    said = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            said.append({"code": code, "heading": str(heading), "text": str(text)})
    return said


def _neutral(http: HttpRequest) -> HttpResponse:
    context = {"languages": _in_every_language(*NEUTRAL)}
    return _render(http, select_template(["mailflow/respond/neutral.html"]), context)


def _too_many(http: HttpRequest) -> HttpResponse:
    context = {"languages": _in_every_language(*LIMITED)}
    response = _render(http, select_template(["mailflow/respond/limited.html"]), context, 429)
    response["Retry-After"] = str(pages.RATE_WINDOW_SECONDS)
    return response


def _label(request: ConfirmationRequest, key: str) -> str:
    return SUSPICIOUS_LABEL if key == SUSPICIOUS else request.label_of(key)


def _error(request: ConfirmationRequest, code: str, **values: object) -> str:
    with translation.override(request_language(request)):
        return str(ERRORS[code]) % values


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def _user_agent(http: HttpRequest) -> str:
    return storable(http.META.get("HTTP_USER_AGENT", "")[:400])
