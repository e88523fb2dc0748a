"""The buttons an analyst presses on a waiting question, on its own page and in the
incident's header: POST-only admin views (the admin checks their CSRF token) that call
the services in mailflow.request_actions and say what happened, or why nothing did."""

from collections.abc import Callable
from datetime import datetime, timedelta

from django import forms
from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.actors import Actor
from core.admin_helpers import call_service, form_errors_to_messages
from mailflow.models import OPEN_STATES, ConfirmationRequest
from mailflow.request_actions import (
    request_end_as_no_answer,
    request_extend_deadline,
    request_send_again,
    request_withdraw,
)
from mailflow.request_lifecycle import State, recipient_name

ACTIONS = ("withdraw", "send_again", "extend", "end_now")
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def may_act_on_questions(user: AbstractBaseUser) -> bool:
    """SOC analysts: ending a question or extending it changes what its run does next."""
    return user.has_perm("mailflow.change_confirmationrequest") and user.has_perm(
        "runbooks.change_runbookrun"
    )


class ExtendDeadlineForm(forms.Form):
    """Hours added to the deadline the page showed, or a new deadline. `shown` is that
    deadline: if it changed meanwhile (a double click, another analyst), nothing is added
    twice."""

    hours = forms.IntegerField(
        label="Add hours", min_value=1, max_value=24 * 30, required=False, initial=24
    )
    deadline = forms.DateTimeField(
        label="or set the deadline to",
        required=False,
        input_formats=[_LOCAL_INPUT, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_INPUT),
    )
    shown = forms.DateTimeField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, current: datetime, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.current = current
        self.fields["shown"].initial = current.isoformat()

    def clean(self) -> dict:
        data = super().clean()
        shown = data.get("shown")
        if shown and abs(shown - self.current) > timedelta(seconds=1):
            raise forms.ValidationError(
                "The deadline changed since this page was shown (it is now "
                f"{timezone.localtime(self.current):%Y-%m-%d %H:%M %Z}): nothing changed."
            )
        given = self.has_error("hours") or self.has_error("deadline")
        if not given and not data.get("deadline") and not data.get("hours"):
            raise forms.ValidationError("Give the hours to add, or the new deadline.")
        return data

    def new_deadline(self) -> datetime:
        return self.cleaned_data["deadline"] or self.current + timedelta(
            hours=self.cleaned_data["hours"]
        )


def action_urls(request: ConfirmationRequest) -> dict[str, str]:
    return {
        name: reverse(f"admin:mailflow_confirmationrequest_{name}", args=[request.pk])
        for name in ACTIONS
    }


def question_actions(user: AbstractBaseUser, request: ConfirmationRequest) -> dict | None:
    """What the actions' template needs, or None when there is nothing this user may do
    (the question closed, or no permission)."""
    if request.state not in OPEN_STATES or not may_act_on_questions(user):
        return None
    return {
        "urls": action_urls(request),
        "can_send_again": request.state != State.PENDING and bool(request.recipient_email),
        "extend_form": ExtendDeadlineForm(current=request.deadline_at),
        "request": request,
    }


def _back(http: HttpRequest, request: ConfirmationRequest) -> str:
    """Back where the button was: the incident's header, or the question's page."""
    if http.POST.get("back") == "incident":
        url = reverse("admin:incidents_securityincident_change", args=[request.incident_id])
        return f"{url}#question"
    return reverse("admin:mailflow_confirmationrequest_change", args=[request.pk])


def _withdraw(http: HttpRequest, request: ConfirmationRequest, actor: Actor) -> None:
    call_service(
        http,
        lambda: request_withdraw(request=request, actor=actor, reason=http.POST.get("reason", "")),
        f"Question to {recipient_name(request)} withdrawn: its links no longer work. Its "
        "runbook run keeps waiting; cancel the run on its page if it should not continue.",
    )


def _send_again(http: HttpRequest, request: ConfirmationRequest, actor: Actor) -> None:
    call_service(
        http,
        lambda: request_send_again(request=request, actor=actor),
        f"The question goes to {request.recipient_email} again, in a new email with the same "
        "links: an answer to either email counts.",
    )


def _extend(http: HttpRequest, request: ConfirmationRequest, actor: Actor) -> None:
    form = ExtendDeadlineForm(http.POST, current=request.deadline_at)
    if not form.is_valid():
        form_errors_to_messages(http, form)
        return
    deadline = form.new_deadline()
    call_service(
        http,
        lambda: request_extend_deadline(request=request, actor=actor, deadline_at=deadline),
        f"Deadline extended to {timezone.localtime(deadline):%Y-%m-%d %H:%M %Z}.",
    )


def _end_now(http: HttpRequest, request: ConfirmationRequest, actor: Actor) -> None:
    call_service(
        http,
        lambda: request_end_as_no_answer(
            request=request, actor=actor, reason=http.POST.get("reason", "")
        ),
        "Question ended as no answer: the runbook continues on its “no answer” branch.",
    )


def _view(
    handler: Callable[[HttpRequest, ConfirmationRequest, Actor], None],
) -> Callable[[HttpRequest, int], HttpResponse]:
    @require_POST
    def view(http: HttpRequest, pk: int) -> HttpResponse:
        if not may_act_on_questions(http.user):
            raise PermissionDenied
        request = get_object_or_404(
            ConfirmationRequest.objects.select_related("person", "incident"), pk=pk
        )
        handler(http, request, Actor.analyst(http.user))
        return HttpResponseRedirect(_back(http, request))

    return view


def request_action_urls(model_admin: admin.ModelAdmin) -> list[URLPattern]:
    """`<pk>/withdraw/`, `<pk>/send_again/`, `<pk>/extend/`, `<pk>/end_now/`, named
    `mailflow_confirmationrequest_<action>`."""
    handlers = {
        "withdraw": _withdraw,
        "send_again": _send_again,
        "extend": _extend,
        "end_now": _end_now,
    }
    return [
        path(
            f"<int:pk>/{name}/",
            model_admin.admin_site.admin_view(_view(handler)),
            name=f"mailflow_confirmationrequest_{name}",
        )
        for name, handler in handlers.items()
    ]
