"""Runbooks on the incident page (settings.INCIDENT_PAGE_PANELS): in the summary header,
the runs with their version and the step each is on; below the form, which runbooks apply,
what ran and the path each run took. And the page that starts one by hand through
run_start_by_analyst."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from core import log_context
from core.actors import Actor
from core.admin_helpers import call_service
from incidents.admin.panels import Panel
from incidents.models import SecurityIncident
from runbooks.models import Runbook
from runbooks.run_path import run_path_html, run_step_text
from runbooks.selectors import IncidentRunbook, incident_header_runs, incident_runbooks
from runbooks.starting import incident_conditions, run_start_by_analyst


def may_start_runbooks(request: HttpRequest) -> bool:
    """Who may start a runbook on an incident: whoever works incidents and operates runs
    (the SOC analyst group), as for Ask people."""
    user = request.user
    return user.has_perm("incidents.change_securityincident") and user.has_perm(
        "runbooks.change_runbookrun"
    )


def incident_run_header_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    """The runbook card of the incident's summary header: each run's runbook, version and
    the step it is on, those still going first; none for who may not see runs."""
    if not request.user.has_perm("runbooks.view_runbookrun"):
        return None
    header = incident_header_runs(incident)
    return Panel(
        "admin/runbooks/incident_run_header.html",
        {
            "rows": [{"run": run, "step": run_step_text(run)} for run in header.runs],
            "more": header.more,
            "state_summary": header.state_summary,
            "runs_url": f"{reverse('admin:runbooks_runbookrun_changelist')}"
            f"?incident__id__exact={incident.pk}",
        },
        place="header",
    )


def incident_runbooks_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    """The "Runbooks" section of the incident page; none for who may not see runs."""
    if not request.user.has_perm("runbooks.view_runbookrun"):
        return None
    rows = incident_runbooks(incident)
    for row in rows:
        for run in row.runs:
            run.path_html = run_path_html(run, run.results.all())
    return Panel(
        "admin/runbooks/incident_runbooks.html",
        {
            "incident": incident,
            "conditions": incident_conditions(incident),
            "applying": [row for row in rows if row.startable],
            "others": [row for row in rows if not row.startable],
            "runs_url": reverse("admin:runbooks_runbookrun_changelist"),
        },
    )


class StartRunbookForm(forms.Form):
    runbook = forms.ModelChoiceField(
        queryset=Runbook.objects.none(), widget=forms.RadioSelect, empty_label=None
    )

    def __init__(self, *args, rows: list[IncidentRunbook], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        startable = [row for row in rows if row.startable]
        self.fields["runbook"].queryset = Runbook.objects.filter(
            pk__in=[row.runbook.pk for row in startable]
        )
        if len(startable) == 1:
            self.fields["runbook"].initial = startable[0].runbook.pk
        self.rows = {row.runbook.pk: row for row in startable}


def start_runbook_view(request: HttpRequest, incident_id: int) -> HttpResponse:
    """Choose one of the runbooks that apply to the incident and start it for the
    affected user. A refusal (already running, incident closed) is said on the incident
    page, where the panel shows the run in question."""
    if not may_start_runbooks(request):
        raise PermissionDenied
    incident = get_object_or_404(
        SecurityIncident.objects.select_related("category", "affected_user"), pk=incident_id
    )
    log_context.set_incident(incident.number)
    back = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    form = StartRunbookForm(request.POST or None, rows=incident_runbooks(incident))
    if request.method == "POST" and form.is_valid():
        runbook = form.cleaned_data["runbook"]
        started = []
        if call_service(
            request,
            lambda: started.append(
                run_start_by_analyst(
                    actor=Actor.analyst(request.user), runbook=runbook, incident=incident
                )
            ),
            "",
        ):
            messages.success(request, f"Runbook '{runbook.name}' started (run {started[0].pk}).")
        return HttpResponseRedirect(f"{back}#runbooks")
    context = {
        **admin.site.each_context(request),
        "opts": SecurityIncident._meta,
        "title": f"Start a runbook on {incident.number}",
        "incident": incident,
        "conditions": incident_conditions(incident),
        "back": back,
        "form": form,
        "choices": [(choice, form.rows[choice.data["value"].value]) for choice in form["runbook"]],
    }
    return TemplateResponse(request, "admin/runbooks/start_runbook.html", context)
