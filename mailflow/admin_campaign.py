"""The campaign page of an incident on which many people were asked (mailflow/
admin_ask_people.py): the counts by outcome as a bar and as numbers that link to the people
behind them, the list of people (filtered, searched, paginated), "Remind now", the CSV of
the list, and the live figures a small static script polls while answers come in. Also the
incident page's panel that leads here. URLs wired in soc/urls.py, under the incident's."""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core import log_context
from core.actors import Actor
from core.admin_helpers import call_service
from incidents.models import SecurityIncident
from mailflow.answers import CHANNEL_LABELS
from mailflow.campaign_figures import (
    ANSWER_PREFIX,
    Outcome,
    campaign_outcomes,
    campaign_progress,
    campaign_requests,
    campaign_search,
    campaign_summary,
    outcome_label,
    with_answer,
    with_outcome,
)
from mailflow.campaigns import campaign_remind, next_remind_at, remindable
from mailflow.models import ConfirmationRequest

PER_PAGE = 50
# How often the page asks for fresh figures: often while emails go out, less while
# answers trickle in; never once every question is closed.
POLL_SECONDS_SENDING = 2
POLL_SECONDS_WAITING = 10
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ["name", "email", "outcome", "asked", "answered", "channel", "reminded"]
BAR_WIDTH = 1000  # the SVG bar's user units; the browser scales it to the page
CSV_ROWS_PER_CHUNK = 500


@dataclass(frozen=True)
class Segment:
    """An outcome in the bar and the legend: its share of the bar and its people's link."""

    outcome: Outcome
    x: float
    width: float
    url: str


def may_view(user: AbstractBaseUser) -> bool:
    return user.has_perm("incidents.view_securityincident") and user.has_perm(
        "mailflow.view_confirmationrequest"
    )


def may_remind(user: AbstractBaseUser) -> bool:
    """Reminding writes on the incident in the analyst's name, as asking people does."""
    return may_view(user) and user.has_perm("incidents.change_securityincident")


def _incident(request: HttpRequest, incident_id: int) -> SecurityIncident:
    if not may_view(request.user):
        raise PermissionDenied
    incident = get_object_or_404(SecurityIncident, pk=incident_id)
    log_context.set_incident(incident.number)
    return incident


def campaign_url(incident: SecurityIncident, **query: str) -> str:
    url = reverse("incident_campaign", args=[incident.pk])
    query = {k: v for k, v in query.items() if v}
    return f"{url}?{urlencode(query)}" if query else url


def campaign_header(incident: SecurityIncident) -> dict:
    """What the incident's header says of a campaign (mailflow.admin_question): the
    campaign page's own figures, so the two never disagree, and the way there."""
    requests = campaign_requests(incident)
    progress = campaign_progress(requests)
    return {
        "progress": progress,
        "share": round(100 * progress.answered / progress.total) if progress.total else 0,
        "outcomes": [outcome for outcome in campaign_outcomes(requests) if outcome.count],
        "url": campaign_url(incident),
    }


def bar(incident: SecurityIncident, outcomes: list[Outcome], query: str = "") -> list[Segment]:
    total = sum(o.count for o in outcomes) or 1
    segments, x = [], 0.0
    for outcome in outcomes:
        width = BAR_WIDTH * outcome.count / total
        url = campaign_url(incident, outcome=outcome.key, q=query)
        segments.append(Segment(outcome, round(x, 2), round(width, 2), url))
        x += width
    return segments


@require_GET
def campaign_view(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = _incident(request, incident_id)
    requests = campaign_requests(incident)
    outcomes = campaign_outcomes(requests)
    known = {o.key for o in outcomes}
    chosen = request.GET.get("outcome", "")
    if chosen and chosen not in known:
        messages.warning(request, "There is no such outcome in this campaign: showing everyone.")
        chosen = ""
    query = request.GET.get("q", "")[:200]
    people = _people(requests, chosen, query)
    page = Paginator(people, PER_PAGE).get_page(request.GET.get("page"))
    labels = _labels(outcomes)
    progress = campaign_progress(requests)
    back = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    context = {
        **admin.site.each_context(request),
        # The incident's: the sidebar and breadcrumbs place this page under Incidents.
        "opts": SecurityIncident._meta,
        "title": f"Campaign of {incident.number}",
        "incident": incident,
        "back": back,
        "progress": progress,
        "segments": bar(incident, outcomes, query),
        "bar_width": BAR_WIDTH,
        "chosen": next((o for o in outcomes if o.key == chosen), None),
        "query": query,
        "page": page,
        "rows": [_row(r, labels) for r in page.object_list],
        "page_query": urlencode({k: v for k, v in {"outcome": chosen, "q": query}.items() if v}),
        "csv_url": reverse("incident_campaign_csv", args=[incident.pk])
        + (f"?{urlencode({'outcome': chosen, 'q': query})}" if chosen or query else ""),
        "progress_url": reverse("incident_campaign_progress", args=[incident.pk]),
        # What the script compares its figures with, to say when the list is out of date.
        "signature": ",".join([str(progress.sent)] + [f"{o.key}={o.count}" for o in outcomes]),
        "poll_sending": POLL_SECONDS_SENDING,
        "poll_waiting": POLL_SECONDS_WAITING,
        "can_remind": may_remind(request.user),
        "remind_url": reverse("incident_campaign_remind", args=[incident.pk]),
        "to_remind": remindable(incident.pk, timezone.now()).count(),
        "next_remind_at": next_remind_at(incident),
    }
    return TemplateResponse(request, "admin/mailflow/campaign.html", context)


def _labels(outcomes: list[Outcome]) -> dict[str, str]:
    """Option keys to labels, as campaign_outcomes found them."""
    return {
        o.key.removeprefix(ANSWER_PREFIX): o.label
        for o in outcomes
        if o.key.startswith(ANSWER_PREFIX)
    }


def _people(
    requests: QuerySet[ConfirmationRequest], outcome: str, query: str
) -> QuerySet[ConfirmationRequest]:
    people = with_answer(with_outcome(campaign_search(requests, query)))
    if outcome:
        people = people.filter(outcome=outcome)
    return people.select_related("person").order_by("pk")


@dataclass(frozen=True)
class Row:
    request: ConfirmationRequest
    name: str
    email: str
    outcome: str
    outcome_label: str
    channel: str


def _row(request: ConfirmationRequest, labels: dict[str, str]) -> Row:
    person = request.person
    return Row(
        request=request,
        name=person.full_name if person else "",
        email=request.recipient_email or (person.email if person else ""),
        outcome=request.outcome,
        outcome_label=outcome_label(request.outcome, labels),
        channel=CHANNEL_LABELS.get(request.answer_channel, "") if request.answer_channel else "",
    )


@require_GET
def campaign_progress_view(request: HttpRequest, incident_id: int) -> JsonResponse:
    incident = _incident(request, incident_id)
    figures = campaign_summary(incident)
    total = sum(o["count"] for o in figures["outcomes"]) or 1
    # Where each outcome's segment starts and how wide it is, as the page drew them.
    x = 0.0
    for outcome in figures["outcomes"]:
        width = BAR_WIDTH * outcome["count"] / total
        outcome["x"], outcome["width"] = round(x, 2), round(width, 2)
        x += width
    figures["poll_seconds"] = POLL_SECONDS_SENDING if figures["sending"] else POLL_SECONDS_WAITING
    response = JsonResponse(figures)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def campaign_remind_view(request: HttpRequest, incident_id: int) -> HttpResponse:
    if not may_remind(request.user):
        raise PermissionDenied
    incident = get_object_or_404(SecurityIncident, pk=incident_id)
    reminded: list[int] = []

    def remind() -> None:
        entry = campaign_remind(incident=incident, actor=Actor.analyst(request.user))
        reminded.append(entry.data["count"])

    if call_service(request, remind, ""):
        count = reminded[0]
        messages.success(
            request,
            f"Reminding {count} {'person' if count == 1 else 'people'} who have not answered; "
            "the emails go out in the background.",
        )
    return redirect(campaign_url(incident))


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a quote."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
def campaign_csv_view(request: HttpRequest, incident_id: int) -> StreamingHttpResponse:
    incident = _incident(request, incident_id)
    requests = campaign_requests(incident)
    outcomes = campaign_outcomes(requests)
    chosen = request.GET.get("outcome", "")
    known = {o.key for o in outcomes}
    people = _people(requests, chosen if chosen in known else "", request.GET.get("q", "")[:200])
    labels = _labels(outcomes)
    writer = csv.writer(_Echo())
    # Plain values, not model instances: the CSV of a large campaign streams quickly.
    values = people.values_list(
        "person__first_name",
        "person__last_name",
        "person__email",
        "recipient_email",
        "outcome",
        "sent_at",
        "answer_at",
        "answer_channel",
        "reminders_sent",
    )

    zone = timezone.get_current_timezone()  # once: looking it up per cell is the slow part
    # Per outcome and channel once, not per row: a campaign has a handful of each.
    outcome_cells = {o.key: csv_cell(outcome_label(o.key, labels)) for o in outcomes}
    channel_cells = {key: csv_cell(label) for key, label in CHANNEL_LABELS.items()}

    def iso(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat(timespec="seconds") if value else ""

    def rows() -> Iterator[str]:
        for (
            first,
            last,
            email,
            asked,
            outcome,
            sent,
            answered,
            channel,
            reminded,
        ) in values.iterator(chunk_size=2000):
            yield writer.writerow([
                csv_cell(f"{first} {last}".strip()) if first is not None else "",
                csv_cell(asked or email or ""),
                outcome_cells.get(outcome) or csv_cell(outcome_label(outcome, labels)),
                iso(sent),
                iso(answered),
                channel_cells.get(channel, ""),
                "yes" if reminded else "no",
            ])  # fmt: skip

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        # A chunk of rows at a time: one per row made the response's own work per chunk
        # the larger part of a big campaign's export.
        chunks = rows()
        while chunk := "".join(islice(chunks, CSV_ROWS_PER_CHUNK)):
            yield chunk

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    filename = "".join(c for c in incident.number if c.isalnum() or c in "-_") or "incident"
    response["Content-Disposition"] = f'attachment; filename="{filename}-campaign.csv"'
    return response
