"""The admin page that asks a list of people about an incident (everyone a phishing email
reached, say): one run of the chosen runbook per person, through runs_start_for_people.

The analyst pastes what they have (addresses as a mail client writes them, or a message
trace export), sees what was read (how many addresses, which lines were skipped and why,
the phishing email's sender set aside) and then confirms. The confirmation carries a digest
of what was checked, so an edited list is checked again before anyone is asked."""

import hashlib
from dataclasses import dataclass

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
from incidents.models import Person, SecurityIncident
from mailflow.parsing.addresses import PastedAddresses, read_pasted_addresses
from runbooks.models import Runbook, RunbookRun
from runbooks.starting import runbook_matches, runs_start_for_people

MAX_PEOPLE = 50_000
SHOWN_UNKNOWN = 20


@dataclass
class ListReading:
    """What the page shows about a pasted list before anyone is asked."""

    pasted: PastedAddresses
    senders_listed: list[str]  # in the list, set aside as the phishing email's sender
    people: list[Person]
    unknown: list[str]
    already_asked: int

    @property
    def new_people(self) -> int:
        return len(self.people) - self.already_asked


class AskPeopleForm(forms.Form):
    runbook = forms.ModelChoiceField(queryset=Runbook.objects.none())
    addresses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 100, "class": "vLargeTextField"}),
        help_text="Paste the addresses as your mail client writes them (Jane Doe "
        "<jane@corp.example>; bob@corp.example, one or many a line) or a message "
        "trace export as it is, header row included: its recipient column is read. Each "
        "person must be in the directory; people already asked by this runbook on this "
        "incident are skipped.",
    )
    sender = forms.EmailField(
        required=False,
        label="Sender of the phishing email",
        help_text="Never asked, even when in the directory. A message trace's sender column "
        "is set aside the same way.",
    )

    def __init__(self, *args, incident: SecurityIncident, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.incident = incident
        self.reading: ListReading | None = None
        runbooks = Runbook.objects.filter(active=True).prefetch_related("categories")
        matching = [r.pk for r in runbooks if runbook_matches(r, incident)]
        self.fields["runbook"].queryset = Runbook.objects.filter(pk__in=matching)
        if len(matching) == 1:
            self.fields["runbook"].initial = matching[0]

    def clean(self) -> dict:
        cleaned = super().clean()
        if "addresses" not in cleaned or "sender" not in cleaned:
            return cleaned
        pasted = read_pasted_addresses(cleaned["addresses"])
        senders = set(pasted.senders) | {cleaned["sender"].lower()} - {""}
        to_ask = [a for a in pasted.addresses if a not in senders]
        if len(to_ask) > MAX_PEOPLE:
            raise forms.ValidationError(f"At most {MAX_PEOPLE} addresses at a time.")
        people = list(Person.objects.filter(email__in=to_ask))
        unknown = sorted(set(to_ask) - {p.email.lower() for p in people})
        self.reading = ListReading(
            pasted=pasted,
            senders_listed=[a for a in pasted.addresses if a in senders],
            people=people,
            unknown=unknown,
            already_asked=self._already_asked(cleaned.get("runbook"), people),
        )
        if unknown:
            shown = ", ".join(unknown[:SHOWN_UNKNOWN])
            self.add_error(
                "addresses",
                f"{len(unknown)} address(es) are not in the directory: {shown}"
                + (" …" if len(unknown) > SHOWN_UNKNOWN else "")
                + ". Import them first (People → Import CSV) or remove them. Nobody was asked.",
            )
        elif not people:
            self.add_error("addresses", "No address to ask in this list.")
        cleaned["people"] = people
        return cleaned

    def _already_asked(self, runbook: Runbook | None, people: list[Person]) -> int:
        if runbook is None or not people:
            return 0
        return RunbookRun.objects.filter(
            runbook=runbook, incident=self.incident, person__in=people
        ).count()

    def digest(self) -> str:
        """Of what was checked: the confirmation asks exactly the list the page showed."""
        data = self.cleaned_data
        checked = "\0".join([str(data["runbook"].pk), data["sender"], data["addresses"]])
        return hashlib.sha256(checked.encode()).hexdigest()


def ask_people_view(request: HttpRequest, incident_id: int) -> HttpResponse:
    user = request.user
    if not (
        user.has_perm("incidents.change_securityincident")
        and user.has_perm("runbooks.change_runbookrun")
    ):
        raise PermissionDenied
    incident = get_object_or_404(SecurityIncident, pk=incident_id)
    log_context.set_incident(incident.number)
    back = reverse("admin:incidents_securityincident_change", args=[incident.pk])
    form = AskPeopleForm(request.POST or None, incident=incident)
    checked = request.method == "POST" and form.is_valid()
    confirmed = checked and request.POST.get("checked") == form.digest()
    if confirmed and _ask(request, form):
        return HttpResponseRedirect(back)
    context = {
        **admin.site.each_context(request),
        # The incident's: the sidebar and breadcrumbs place this page under Incidents.
        "opts": SecurityIncident._meta,
        "title": f"Ask people about {incident.number}",
        "incident": incident,
        "back": back,
        "form": form,
        "reading": form.reading,
        "digest": form.digest() if checked else "",
    }
    return TemplateResponse(request, "admin/mailflow/ask_people.html", context)


def _ask(request: HttpRequest, form: AskPeopleForm) -> bool:
    people, runbook = form.cleaned_data["people"], form.cleaned_data["runbook"]
    started: list[int] = []

    def start() -> None:
        started.extend(
            runs_start_for_people(
                actor=Actor.analyst(request.user),
                runbook=runbook,
                incident=form.incident,
                people=people,
            )
        )

    if not call_service(request, start, ""):
        return False
    skipped = len(people) - len(started)
    senders = form.reading.senders_listed if form.reading else []
    messages.success(
        request,
        f"Asking {len(started)} people with '{runbook.name}'"
        + (f"; {skipped} were already asked" if skipped else "")
        + (f"; not asked, the sender: {', '.join(senders)}" if senders else "")
        + ".",
    )
    return True
