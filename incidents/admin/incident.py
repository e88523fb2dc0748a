"""The incident: its list and search, its page with the timeline and the action forms
(transition, work note, task, evidence), and the tasks listed on it."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import smart_split, unescape_string_literal

from core import log_context
from core.actors import Actor
from core.admin_helpers import (
    InvisibleCharactersHintMixin,
    LargeTableAdminMixin,
    StaffListFilter,
    call_service,
    form_errors_to_messages,
    object_button_url,
)
from incidents.admin.incident_page import (
    incident_evidence,
    incident_open_tasks,
    incident_tasks,
    incident_timeline,
    timeline_entries,
)
from incidents.admin.list_filters import OpenIncidentFilter
from incidents.admin.panels import Panel, incident_panels
from incidents.admin.search import EMAIL, INCIDENT_NUMBER, number_lookup
from incidents.forms import (
    EvidenceForm,
    IncidentTransitionForm,
    NoteForm,
    TaskCreateForm,
    staff_users,
)
from incidents.models import Evidence, Person, SecurityIncident
from incidents.services import (
    INCIDENT_EDITABLE_FIELDS,
    evidence_add,
    incident_add_note,
    incident_assign,
    incident_open,
    incident_transition,
    incident_update,
    task_create,
)
from incidents.timeline_display import (
    timeline_days,
    timeline_filter_links,
    timeline_filtered,
    timeline_group,
)

TIMELINE_PAGE_SIZE = 200


def _incident_word_search(queryset: QuerySet, search_term: str) -> QuerySet:
    """The admin's search over SecurityIncidentAdmin.search_fields: every word must match
    one of them. Each field's match is its own query on an index (the number's, the alert
    id's, the affected user's, and on PostgreSQL the descriptions' trigram indexes), and
    the word's matches are their union, so a search reads the incidents that match rather
    than every incident."""
    for word in smart_split(search_term):
        if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        people = Person.objects.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
        incidents = SecurityIncident.objects.order_by().values("pk")
        matches = incidents.filter(number=word.upper()).union(
            incidents.filter(short_description__icontains=word),
            incidents.filter(description__icontains=word),
            incidents.filter(external_reference__iexact=word),
            incidents.filter(affected_user__in=people.values("pk")),
        )
        queryset = queryset.filter(pk__in=matches)
    return queryset


def _panels_by_place(panels: list[Panel]) -> dict[str, list[Panel]]:
    return {
        "header_panels": [panel for panel in panels if panel.place == "header"],
        "panels": [panel for panel in panels if panel.place == "below"],
    }


@admin.register(SecurityIncident)
class SecurityIncidentAdmin(InvisibleCharactersHintMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "number",
        "short_description",
        "category",
        "priority",
        "state",
        "affected_user",
        "assigned_to",
        "opened_at",
    ]
    list_display_links = ["number", "short_description"]
    # One query for the page whatever the number of rows (tested).
    list_select_related = ["category", "affected_user", "assigned_to"]
    list_filter = [
        OpenIncidentFilter,
        "state",
        "category",
        "priority",
        ("assigned_to", StaffListFilter),
        "opened_at",
    ]
    # Searched by _incident_word_search (keep the two in step); listed here for the box.
    search_fields = [
        "=number",
        "short_description",
        "description",
        "affected_user__first_name",
        "affected_user__last_name",
        "affected_user__email",
        "=external_reference",
    ]
    search_help_text = (
        "An incident number finds that incident, an email address the incidents of that "
        "person; other words search descriptions and the affected user's name."
    )
    # No date_hierarchy: its year/month links cost two more passes over the whole filtered
    # list on every load (MIN/MAX, then SELECT DISTINCT date_trunc); the "opened" filter
    # offers the useful ranges for free.
    # LargeTableAdminMixin: no exact COUNT(*) over the table on every page load.
    list_per_page = 50
    autocomplete_fields = ["affected_user", "affected_ci"]
    actions = ["assign_to_me", "move_to_analysis"]
    # The form holds what an analyst edits; where the case stands (state, number, times,
    # the directory's details of the person and the asset) is in the summary header.
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "short_description",
                    "description",
                    ("category", "priority"),
                    ("assigned_to", "assignment_group"),
                    ("affected_user", "affected_ci"),
                    "external_reference",
                ]
            },
        ),
    ]

    def get_object(self, request, object_id, from_field=None):
        """The incident with what its header shows (the person's manager, the asset's
        owner) in one query. Only here: joined into the list's query too, these tables
        would outnumber what the planner reorders, and a search would read every row."""
        queryset = self.get_queryset(request).select_related(
            "category",
            "affected_user__manager",
            "affected_ci__owner",
            "assigned_to",
            "assignment_group",
        )
        field = self.model._meta.get_field(from_field) if from_field else self.model._meta.pk
        try:
            incident = queryset.get(**{field.name: field.to_python(object_id)})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None
        log_context.set_incident(incident.number)
        return incident

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The common searches use an index; only free words scan the descriptions.
        number = number_lookup(search_term, {INCIDENT_NUMBER: "number"})
        if number:
            return queryset.filter(**number), False
        if EMAIL.fullmatch(search_term.strip()):
            # People are stored by lower-case email (unique index), incidents by person.
            return queryset.filter(affected_user__email=search_term.strip().lower()), False
        return _incident_word_search(queryset, search_term), False

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "description":
            # A few lines tall, so the form stays a short step below the header.
            kwargs["widget"] = admin.widgets.AdminTextareaWidget(attrs={"rows": 4})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assigned_to":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of an incident is kept; close or cancel it instead

    # --- saving goes through the services

    def save_model(self, request, obj: SecurityIncident, form, change: bool) -> None:
        actor = Actor.analyst(request.user)
        data = form.cleaned_data
        if not change:
            incident, _ = incident_open(
                actor=actor,
                short_description=data["short_description"],
                description=data.get("description", ""),
                category=data["category"],
                priority=data["priority"],
                affected_user=data.get("affected_user"),
                affected_ci=data.get("affected_ci"),
                external_reference=data.get("external_reference", ""),
            )
            if data.get("assigned_to") or data.get("assignment_group"):
                incident_assign(
                    actor=actor,
                    incident=incident,
                    analyst=data.get("assigned_to"),
                    group=data.get("assignment_group"),
                )
            obj.pk = incident.pk
            obj.refresh_from_db()
            return
        changes = {f: data[f] for f in form.changed_data if f in INCIDENT_EDITABLE_FIELDS}
        if changes:
            call_service(request, lambda: incident_update(actor=actor, incident=obj, **changes), "")
        if {"assigned_to", "assignment_group"} & set(form.changed_data):
            call_service(
                request,
                lambda: incident_assign(
                    actor=actor,
                    incident=obj,
                    analyst=data.get("assigned_to"),
                    group=data.get("assignment_group"),
                ),
                "",
            )
        obj.refresh_from_db()

    # --- bulk actions

    @admin.action(description="Assign selected incidents to me", permissions=["change"])
    def assign_to_me(self, request, queryset: QuerySet) -> None:
        actor = Actor.analyst(request.user)
        for incident in queryset:
            call_service(
                request,
                lambda i=incident: incident_assign(
                    actor=actor, incident=i, analyst=request.user, group=i.assignment_group
                ),
                f"{incident.number} assigned to you.",
            )

    @admin.action(description="Move selected incidents to Analysis", permissions=["change"])
    def move_to_analysis(self, request, queryset: QuerySet) -> None:
        actor = Actor.analyst(request.user)
        for incident in queryset:
            call_service(
                request,
                lambda i=incident: incident_transition(
                    actor=actor, incident=i, to_state=SecurityIncident.State.ANALYSIS
                ),
                f"{incident.number} moved to Analysis.",
            )

    # --- the incident page: timeline and action forms

    def change_view(self, request, object_id, form_url="", extra_context=None):
        incident = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if incident is not None:
            can_change = self.has_change_permission(request, incident)
            extra_context.update(
                # One Save, which stays on the page: the analyst reads the header again.
                show_save_and_continue=False,
                show_save_and_add_another=False,
                open_tasks=incident_open_tasks(incident),
                tasks=incident_tasks(incident),
                evidence=incident_evidence(incident),
                **incident_timeline(request, incident),
                can_act=can_change,
                **_panels_by_place(incident_panels(request, incident)),
                transition_form=IncidentTransitionForm(incident=incident),
                note_form=NoteForm(),
                task_form=TaskCreateForm(),
                evidence_form=EvidenceForm(),
                action_urls={
                    name: reverse(f"admin:incidents_securityincident_{name}", args=[incident.pk])
                    for name in ("transition", "note", "task", "evidence")
                },
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def response_change(self, request: HttpRequest, obj: SecurityIncident) -> HttpResponse:
        # Saving returns to the incident, not to the list: the header shows the result.
        if "_save" in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_change(request, obj)

    def get_urls(self):
        def button(name: str, handler) -> URLPattern:
            def act(request: HttpRequest, incident: SecurityIncident) -> None:
                log_context.set_incident(incident.number)
                return handler(request, incident, Actor.analyst(request.user))

            return object_button_url(
                self,
                name,
                act,
                allowed=self.has_change_permission,
                back_to=lambda incident: (
                    reverse("admin:incidents_securityincident_change", args=[incident.pk])
                    + "#timeline"
                ),
            )

        return [
            button("transition", self._transition),
            button("note", self._note),
            button("task", self._task),
            button("evidence", self._evidence),
            path(
                "<int:pk>/timeline/",
                self.admin_site.admin_view(self.timeline_view),
                name="incidents_securityincident_timeline",
            ),
            *super().get_urls(),
        ]

    def timeline_view(self, request: HttpRequest, pk: int) -> TemplateResponse:
        """The whole timeline, newest first like the incident page, a page at a time and
        filtered the same way: each page costs the same whatever the length of the
        timeline or the size of the table."""
        incident = get_object_or_404(SecurityIncident, pk=pk)
        log_context.set_incident(incident.number)
        if not self.has_view_or_change_permission(request, incident):
            raise PermissionDenied
        group = timeline_group(request.GET.get("group"))
        entries = timeline_filtered(timeline_entries(incident), group).order_by(
            "-created_at", "-id"
        )
        page = Paginator(entries, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": incident,
            "title": f"Timeline of {incident.number}",
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "timeline_days": timeline_days(page.object_list),
            "timeline_group": group,
            "timeline_filter_links": timeline_filter_links(group),
        }
        return TemplateResponse(
            request, "admin/incidents/securityincident/timeline_page.html", context
        )

    def _transition(self, request, incident, actor) -> None:
        form = IncidentTransitionForm(request.POST, incident=incident)
        if not form.is_valid():
            return form_errors_to_messages(request, form)
        to_state = form.cleaned_data["to_state"]
        call_service(
            request,
            lambda: incident_transition(
                actor=actor,
                incident=incident,
                to_state=to_state,
                reason=form.cleaned_data["reason"],
            ),
            f"{incident.number} moved to {SecurityIncident.State(to_state).label}.",
        )

    def _note(self, request, incident, actor) -> None:
        form = NoteForm(request.POST)
        if not form.is_valid():
            return form_errors_to_messages(request, form)
        call_service(
            request,
            lambda: incident_add_note(
                actor=actor, incident=incident, text=form.cleaned_data["text"]
            ),
            "Work note added.",
        )

    def _task(self, request, incident, actor) -> None:
        form = TaskCreateForm(request.POST)
        if not form.is_valid():
            return form_errors_to_messages(request, form)
        call_service(
            request,
            lambda: task_create(actor=actor, incident=incident, **form.cleaned_data),
            "Task created.",
        )

    def _evidence(self, request, incident, actor) -> None:
        if not request.user.has_perm("incidents.add_evidence"):
            raise PermissionDenied
        form = EvidenceForm(request.POST, request.FILES)
        if not form.is_valid():
            return form_errors_to_messages(request, form)
        upload = form.cleaned_data["file"]
        call_service(
            request,
            lambda: evidence_add(
                actor=actor,
                incident=incident,
                content=upload,
                filename=upload.name,
                declared_content_type=upload.content_type or "",
                source=Evidence.Source.ANALYST_UPLOAD,
                provenance={"uploaded_by": request.user.get_username(), "channel": "admin"},
            ),
            "Evidence added.",
        )
