"""The incident page's open approvals (settings.INCIDENT_PAGE_PANELS): each approver and
where their vote stands, and Approve / Deny buttons for the signed-in user on their own
seat. The buttons POST to approval_vote_view; whether this user may vote is checked there
again, by the service."""

from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.admin_helpers import call_service
from incidents.admin.panels import Panel
from incidents.models import SecurityIncident
from mailflow.answers import CHANNEL_LABELS
from mailflow.approval_tally import VOTE_OPTIONS, VOTED, seat_name, step_quorum
from mailflow.approvals import approval_vote_in_admin, may_vote, open_approvals
from mailflow.models import ConfirmationRequest


@dataclass(frozen=True)
class Seat:
    name: str
    state: str  # as an analyst reads it: "approved by answer page", "waiting", ...
    vote_url: str  # "" unless the signed-in user is this seat's approver and it is open


@dataclass(frozen=True)
class OpenApproval:
    question: str
    body: str
    deadline: datetime
    needed: str  # "1 of 2 approvals needed"
    seats: list[Seat]


def _seat(
    user: AbstractBaseUser, request: ConfirmationRequest, answers: dict[int, tuple[str, str]]
) -> Seat:
    vote = answers.get(request.pk)
    if vote:
        key, channel = vote
        what = VOTED.get(key, f"answered “{request.label_of(key)}”")
        state = f"{what} by {CHANNEL_LABELS.get(channel, channel)}"
    elif request.is_open:
        state = "waiting"
    else:
        state = request.get_state_display().lower()
    url = (
        reverse("admin:mailflow_approval_vote", args=[request.pk])
        if may_vote(user, request)
        else ""
    )
    return Seat(seat_name(request), state, url)


def approvals_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    """The approvals with a seat still open; none when there is none."""
    seats = list(open_approvals(incident))
    steps = [
        list(group) for _key, group in groupby(seats, key=lambda s: (s.run_id, s.step_position))
    ]
    steps = [group for group in steps if any(s.is_open for s in group)]
    if not steps:
        return None
    answers = {
        a.request_id: (a.option_key, a.channel)
        for group in steps
        for s in group
        for a in s.answers.all()
        if a.counted
    }
    shown = [
        OpenApproval(
            question=group[0].question,
            body=group[0].body,
            deadline=group[0].deadline_at,
            needed=f"{step_quorum(group[0].run, group[0].step_position, len(group))} of "
            f"{len(group)} approvals needed",
            seats=[_seat(request.user, s, answers) for s in group],
        )
        for group in steps
    ]
    return Panel(
        "admin/mailflow/approvals.html",
        {"approvals": shown, "options": VOTE_OPTIONS},
        place="header",
    )


@require_POST
def approval_vote_view(http: HttpRequest, request_id: int) -> HttpResponse:
    """An approver's Approve / Deny from the incident page: only the seat's own approver
    (approval_vote_in_admin says no to anyone else)."""
    request = get_object_or_404(
        ConfirmationRequest.objects.select_related("incident", "person", "approver_user"),
        pk=request_id,
        kind=ConfirmationRequest.Kind.APPROVAL,
    )
    if request.approver_user_id != http.user.pk:
        raise PermissionDenied
    vote = http.POST.get("vote", "")
    label = request.label_of(vote).lower()
    call_service(
        http,
        lambda: approval_vote_in_admin(user=http.user, request=request, vote=vote),
        f"Your vote “{label}” is recorded.",
    )
    return HttpResponseRedirect(
        reverse("admin:incidents_securityincident_change", args=[request.incident_id])
    )
