"""The incident page's section of held answers when there are more than its header lists
(settings.INCIDENT_PAGE_PANELS), and the one-click accept behind their buttons: a POST
through held_answer_accept, from the header, this section or the question's page."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, QuerySet, Subquery, Window
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.actors import Actor
from core.admin_helpers import call_service
from incidents.admin.panels import Panel
from incidents.models import ResponseTask, SecurityIncident
from mailflow.answers import CHANNEL_LABELS, held_task_after
from mailflow.held_answers import held_answer_accept, held_answers_of, why_held
from mailflow.models import Answer, InboundEmail

# A campaign whose gateway clicks every link holds an answer per person: the panel shows
# the oldest this many and counts the rest.
SHOWN = 50
# Up to this many are listed in the incident's header, with the question
# (mailflow.admin_question); more get this section below the form, and a count up there.
HELD_IN_HEADER = 3


@dataclass(frozen=True)
class HeldRow:
    answer: Answer
    label: str
    who: str
    via: str
    why: str
    accept_url: str  # "" when this user may not accept it here
    email_url: str  # the reply's email page, for a reply from another sender
    task: ResponseTask | None
    task_at: datetime | None


def may_accept(user: AbstractBaseUser) -> bool:
    """SOC analysts: accepting answers the question in their name and moves the run."""
    return user.has_perm("mailflow.change_answer") and user.has_perm("runbooks.change_runbookrun")


def held_first(held: QuerySet[Answer], limit: int) -> tuple[list[Answer], int]:
    """The first `limit` held answers, each with its reply's email (`email_id`), and how
    many are held in all: one query, however many there are."""
    emails = InboundEmail.objects.filter(answer=OuterRef("pk")).order_by("-pk").values("pk")
    answers = list(
        held.annotate(held_total=Window(Count("pk")), email_id=Subquery(emails[:1]))[:limit]
    )
    return answers, answers[0].held_total if answers else 0


def held_answers_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    answers, total = held_first(held_answers_of(incident), SHOWN)
    if total <= HELD_IN_HEADER:
        return None
    rows = [held_row(answer, answer.email_id, may_accept(request.user)) for answer in answers]
    return Panel("admin/mailflow/held_answers.html", {"rows": rows, "more": total - len(rows)})


def held_row(answer: Answer, email_id: int | None, can_accept: bool) -> HeldRow:
    request = answer.request
    asked = request.person.full_name if request.person else request.recipient_email
    scanner = answer.suspected_automated and not answer.sender_mismatch
    return HeldRow(
        answer=answer,
        label=request.label_of(answer.option_key),
        who=answer.sender or asked,
        via=CHANNEL_LABELS[answer.channel],
        why=why_held(answer) if scanner else _why_not_from_them(answer),
        accept_url=(
            reverse("admin:mailflow_held_answer_accept", args=[answer.pk])
            if scanner and can_accept
            else ""
        ),
        email_url=(
            reverse("admin:mailflow_inboundemail_change", args=[email_id]) if email_id else ""
        ),
        task=answer.review_task,
        task_at=answer.received_at + held_task_after() if scanner else None,
    )


def _why_not_from_them(answer: Answer) -> str:
    if not answer.from_recipient:
        return (
            f"it came from {answer.sender}, not the person asked ({answer.request.recipient_email})"
        )
    return "it failed the sender checks (SPF, DKIM, DMARC or the provider's spam verdict)"


@require_POST
def accept_held_answer_view(request: HttpRequest, answer_id: int) -> HttpResponse:
    if not may_accept(request.user):
        raise PermissionDenied
    answer = get_object_or_404(
        Answer.objects.select_related("request__person", "request__incident"), pk=answer_id
    )
    label = answer.request.label_of(answer.option_key)
    call_service(
        request,
        lambda: held_answer_accept(answer=answer, actor=Actor.analyst(request.user)),
        f"Accepted “{label}” as the answer; the runbook continues.",
    )
    if request.POST.get("back") == "request":
        return HttpResponseRedirect(
            reverse("admin:mailflow_confirmationrequest_change", args=[answer.request_id])
        )
    incident = answer.request.incident
    return HttpResponseRedirect(
        reverse("admin:incidents_securityincident_change", args=[incident.pk])
    )
