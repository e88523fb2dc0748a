"""Mailflow's part of the incident page's summary header (settings.INCIDENT_PAGE_PANELS):
the question to the affected person, where its email stands, the answer and who gave it,
held answers with their one-click accept, and the question's actions. An incident that
asked many people (a campaign) gets counts and a link instead of one question. The
question's own admin page shows the same summary (mailflow.admin)."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timeuntil

from incidents.admin.panels import Panel
from incidents.models import SecurityIncident, TimelineEntry
from mailflow import timeline_kinds as kinds
from mailflow.admin_campaign import campaign_header
from mailflow.admin_held_answers import HELD_IN_HEADER, held_first, held_row, may_accept
from mailflow.admin_request_actions import question_actions
from mailflow.answers import CHANNEL_LABELS
from mailflow.emails import SUSPICIOUS_LABEL
from mailflow.held_answers import held_answers_of
from mailflow.models import OPEN_STATES, Answer, ConfirmationRequest
from mailflow.request_lifecycle import recipient_name
from runbooks.outcomes import SUSPICIOUS, UNRECOGNISED

State = ConfirmationRequest.State


@dataclass(frozen=True)
class QuestionSummary:
    request: ConfirmationRequest
    to: str
    is_open: bool
    time_left: str  # "" once the question closed; "past" when the schedule has yet to see it
    reminded_at: datetime | None
    resent_at: datetime | None
    resent_count: int
    answer: Answer | None
    answer_label: str
    answer_via: str
    answer_from: str
    later_answers: int
    actions: dict | None
    page_url: str


def option_label(request: ConfirmationRequest, key: str) -> str:
    """The option's label as the person saw it, also for the answers every question takes."""
    special = {SUSPICIOUS: SUSPICIOUS_LABEL, UNRECOGNISED: "A reply we could not read"}
    return request.label_of(key) if key not in special else special[key]


def answer_provenance(answer: Answer) -> str:
    """How we know the answer is the person's, in the analyst's words."""
    if answer.accepted_by:
        name = answer.accepted_by.get_full_name() or answer.accepted_by.get_username()
        return f"accepted by {name} after checking with the person"
    if answer.channel == Answer.Channel.PAGE:
        return "through the person's own answer link"
    return f"from {answer.sender}, the address asked, with its sender checks passed"


def question_summary(user: AbstractBaseUser, request: ConfirmationRequest) -> QuestionSummary:
    """One question as the header and its page show it: a constant number of queries."""
    now = timezone.now()
    answers = list(request.answers.select_related("accepted_by").order_by("received_at", "id"))
    counted = next((a for a in answers if a.counted), None)
    resent = request.resent_emails.filter(sent_at__isnull=False).aggregate(
        count=Count("id"), last=Max("sent_at")
    )
    reminded_at = None
    if request.reminders_sent:
        reminded_at = (
            TimelineEntry.objects.filter(
                incident_id=request.incident_id,
                kind=kinds.REQUEST_REMINDED,
                data__request=request.pk,
            )
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    is_open = request.state in OPEN_STATES
    time_left = ""
    if is_open:
        time_left = (
            timeuntil(request.deadline_at, now, depth=2) if request.deadline_at > now else "past"
        )
    return QuestionSummary(
        request=request,
        to=recipient_name(request),
        is_open=is_open,
        time_left=time_left,
        reminded_at=reminded_at,
        resent_at=resent["last"],
        resent_count=resent["count"],
        answer=counted,
        answer_label=option_label(request, counted.option_key) if counted else "",
        answer_via=CHANNEL_LABELS[counted.channel] if counted else "",
        answer_from=answer_provenance(counted) if counted else "",
        # Answers after the one that counted, or after the question closed: worth a look
        # on the question's page, which lists every answer.
        later_answers=sum(1 for a in answers if a.is_revision or a.late),
        actions=question_actions(user, request),
        page_url=reverse("admin:mailflow_confirmationrequest_change", args=[request.pk]),
    )


def held_section(user: AbstractBaseUser, held: QuerySet[Answer]) -> dict:
    """Held answers with their accept buttons when few (HELD_IN_HEADER), else a count:
    the section below the form lists them (mailflow.admin_held_answers)."""
    answers, total = held_first(held, HELD_IN_HEADER)
    if total > HELD_IN_HEADER:
        return {"rows": [], "more": total}
    can_accept = may_accept(user)
    return {"rows": [held_row(a, a.email_id, can_accept) for a in answers], "more": 0}


def question_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    """The "Question" part of the incident's header; none without a question. Who may not
    see questions sees only the answers held for review."""
    if not request.user.has_perm("mailflow.view_confirmationrequest"):
        # Held answers are the incident's business (they wait for its analysts), as the
        # section below the form always showed them; the question's details are not.
        held = held_section(request.user, held_answers_of(incident))
        if not held["rows"] and not held["more"]:
            return None
        return Panel("admin/mailflow/question_header.html", {"held": held}, place="header")
    # Approvers' seats have their own panel (mailflow.admin_approvals).
    asked = ConfirmationRequest.objects.filter(
        incident=incident, kind=ConfirmationRequest.Kind.QUESTION
    )
    totals = asked.aggregate(questions=Count("id"), people=Count("recipient_email", distinct=True))
    if not totals["questions"]:
        return None
    list_url = reverse("admin:mailflow_confirmationrequest_changelist") + f"?incident={incident.pk}"
    held = held_section(request.user, held_answers_of(incident))
    if totals["people"] > 1:
        return Panel(
            "admin/mailflow/question_header.html",
            {"campaign": campaign_header(incident), "list_url": list_url, "held": held},
            place="header",
        )
    latest = asked.select_related("person", "incident", "task").order_by("-created_at", "-id")[0]
    return Panel(
        "admin/mailflow/question_header.html",
        {
            "question": question_summary(request.user, latest),
            "earlier": totals["questions"] - 1,
            "list_url": list_url,
            "held": held,
            "back": "incident",
        },
        place="header",
    )
