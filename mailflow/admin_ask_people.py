"""The admin page that asks a list of people about an incident (everyone a phishing email
reached, say): one run of the chosen runbook per person, through runs_start_for_people."""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from incidents.actors import Actor
from incidents.admin_helpers import call_service
from incidents.models import Person, SecurityIncident
from runbooks.models import Runbook
from runbooks.services import runbook_matches, runs_start_for_people

MAX_PEOPLE = 50_000
_SEPARATORS = re.compile(r"[\s,;]+")


class AskPeopleForm(forms.Form):
    runbook = forms.ModelChoiceField(queryset=Runbook.objects.none())
    addresses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="Email addresses of the people to ask, separated by new lines, commas or "
        "semicolons (a message trace export pasted as it is). Each must be in the "
        "directory; people already asked by this runbook on this incident are skipped.",
    )

    def __init__(self, *args, incident: SecurityIncident, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        runbooks = Runbook.objects.filter(active=True).prefetch_related("categories")
        self.fields["runbook"].queryset = Runbook.objects.filter(
            pk__in=[r.pk for r in runbooks if runbook_matches(r, incident)]
        )

    def clean_addresses(self) -> list[Person]:
        addresses = {a.lower() for a in _SEPARATORS.split(self.cleaned_data["addresses"]) if a}
        if len(addresses) > MAX_PEOPLE:
            raise forms.ValidationError(f"At most {MAX_PEOPLE} addresses at a time.")
        people = list(Person.objects.filter(email__in=addresses))
        unknown = sorted(addresses - {p.email.lower() for p in people})
        if unknown:
            shown = ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "")
            raise forms.ValidationError(
                f"{len(unknown)} address(es) are not in the directory: {shown}. Import them "
                "first (People → Import CSV) or remove them. Nobody was asked."
            )
        return people


def ask_people_view(
    model_admin: admin.ModelAdmin, request: HttpRequest, incident_id: int
) -> HttpResponse:
    user = request.user
    if not (
        user.has_perm("incidents.change_securityincident")
        and user.has_perm("runbooks.change_runbookrun")
    ):
        raise PermissionDenied
    incident = get_object_or_404(SecurityIncident, pk=incident_id)
    back = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    form = AskPeopleForm(request.POST or None, incident=incident)
    if request.method == "POST" and form.is_valid():
        people = form.cleaned_data["addresses"]
        runbook = form.cleaned_data["runbook"]
        started: list[int] = []

        def start() -> None:
            started.extend(
                runs_start_for_people(
                    actor=Actor.analyst(user), runbook=runbook, incident=incident, people=people
                )
            )

        if call_service(request, start, ""):
            skipped = len(people) - len(started)
            messages.success(
                request,
                f"Asking {len(started)} people with '{runbook.name}'"
                + (f"; {skipped} were already asked." if skipped else "."),
            )
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Ask people about {incident.number}",
        "incident": incident,
        "back": back,
        "form": form,
    }
    return TemplateResponse(request, "admin/mailflow/ask_people.html", context)
