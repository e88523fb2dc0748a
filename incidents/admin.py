"""The analysts' workplace. Pages read freely; every change is handed to a service, and a
refused change (DomainError) comes back as an admin message, never a 500."""

import re
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from incidents.actors import Actor
from incidents.admin_helpers import (
    InvisibleCharactersHintMixin,
    LargeTableAdminMixin,
    ReadOnlyMixin,
    StaffListFilter,
    call_service,
    form_errors_to_messages,
    object_button_url,
)
from incidents.admin_import import CsvImportAdminMixin
from incidents.admin_panels import incident_panels
from incidents.directory import directory_import_cis, directory_import_people
from incidents.evidence_download import evidence_download_response, harden
from incidents.forms import (
    EvidenceForm,
    IncidentTransitionForm,
    NoteForm,
    TaskCreateForm,
    TaskTransitionForm,
    staff_users,
)
from incidents.models import (
    Category,
    ConfigurationItem,
    Evidence,
    Person,
    ResponseTask,
    SecurityIncident,
    TimelineEntry,
)
from incidents.services import (
    INCIDENT_EDITABLE_FIELDS,
    TASK_EDITABLE_FIELDS,
    evidence_add,
    incident_add_note,
    incident_assign,
    incident_open,
    incident_transition,
    incident_update,
    task_create,
    task_transition,
    task_update,
)
from incidents.timeline_kinds import kind_choices, kind_namespaces

# The incident page shows the newest entries only: a busy incident gathers thousands, and
# rendering them all made its page take seconds. The rest are on the full timeline page.
TIMELINE_ON_INCIDENT_PAGE = 200
TIMELINE_PAGE_SIZE = 200

_INCIDENT_NUMBER = re.compile(r"SIR\d{7,}", re.IGNORECASE)
_TASK_NUMBER = re.compile(r"SIT\d{7,}", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _number_lookup(term: str, fields: dict[re.Pattern, str]) -> dict[str, str] | None:
    """{field: NUMBER} when the search term is a record number, else None. Numbers are
    stored upper-case, so an exact match uses the unique index where the admin's default
    `=number` (UPPER(number) = UPPER(term)) reads every row of a large table."""
    term = term.strip()
    for pattern, field in fields.items():
        if pattern.fullmatch(term):
            return {field: term.upper()}
    return None


def _incident_word_search(queryset: QuerySet, search_term: str) -> QuerySet:
    """The admin's search over SecurityIncidentAdmin.search_fields (every word must match
    one of them), with the person's fields matched in a subquery over the directory instead
    of on every incident row through the join: free words have no index and read every
    incident, and the subquery does far less work per row than the join."""
    for word in smart_split(search_term):
        if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        people = Person.objects.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
        queryset = queryset.filter(
            Q(number__iexact=word)
            | Q(short_description__icontains=word)
            | Q(description__icontains=word)
            | Q(external_reference__iexact=word)
            | Q(affected_user__in=people.values("pk"))
        )
    return queryset


# --- Directory --------------------------------------------------------------------------


@admin.register(Person)
class PersonAdmin(InvisibleCharactersHintMixin, CsvImportAdminMixin, admin.ModelAdmin):
    csv_importer = directory_import_people
    csv_columns_help = (
        "Columns: email, first_name (required); last_name, department, title, manager_email, "
        "language. A column left out of the file leaves that field unchanged."
    )
    list_display = ["full_name", "email", "department", "title", "manager", "language"]
    list_select_related = ["manager"]
    list_filter = ["department", "language"]
    search_fields = ["email", "first_name", "last_name"]
    autocomplete_fields = ["manager"]
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(ordering="last_name")
    def full_name(self, person: Person) -> str:
        return person.full_name


@admin.register(ConfigurationItem)
class ConfigurationItemAdmin(CsvImportAdminMixin, admin.ModelAdmin):
    csv_importer = directory_import_cis
    csv_columns_help = (
        "Columns: name (required); kind, hostname, ip_address, owner_email. "
        "Owners must already be in the directory: import people first."
    )
    list_display = ["name", "kind", "hostname", "ip_address", "owner"]
    list_select_related = ["owner"]
    list_filter = ["kind"]
    search_fields = ["name", "hostname", "ip_address", "owner__email"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "active"]
    list_filter = ["active"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


# --- Incidents --------------------------------------------------------------------------


class TaskInline(admin.TabularInline):
    """Tasks are listed on the incident; they are created and changed through the actions
    below the form and on the task page, so the inline itself is read-only."""

    model = ResponseTask
    fields = ["number", "title", "state", "assignee", "due_at", "created_by_kind"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("assignee")


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
    inlines = [TaskInline]
    actions = ["assign_to_me", "move_to_analysis"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "state",
                    "short_description",
                    "description",
                    ("category", "priority"),
                    ("assigned_to", "assignment_group"),
                    "external_reference",
                ]
            },
        ),
        (
            "Affected",
            {
                "fields": [
                    "affected_user",
                    "affected_user_details",
                    "affected_ci",
                    "affected_ci_details",
                ]
            },
        ),
        ("Times", {"fields": [("opened_at", "updated_at", "closed_at")]}),
    ]
    readonly_fields = [
        "number",
        "state",
        "opened_at",
        "updated_at",
        "closed_at",
        "affected_user_details",
        "affected_ci_details",
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "category", "affected_user__manager", "affected_ci__owner", "assigned_to"
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The common searches use an index; only free words scan the descriptions.
        number = _number_lookup(search_term, {_INCIDENT_NUMBER: "number"})
        if number:
            return queryset.filter(**number), False
        if _EMAIL.fullmatch(search_term.strip()):
            # People are stored by lower-case email (unique index), incidents by person.
            return queryset.filter(affected_user__email=search_term.strip().lower()), False
        return _incident_word_search(queryset, search_term), False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assigned_to":
            kwargs["queryset"] = staff_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of an incident is kept; close or cancel it instead

    # --- details from the directory

    @admin.display(description="User details")
    def affected_user_details(self, incident: SecurityIncident) -> str:
        person = incident.affected_user
        if not person:
            return "-"
        manager = person.manager.full_name if person.manager else "-"
        return format_html(
            "{} &lt;{}&gt;<br>{} · {}<br>Manager: {} · Language: {}",
            person.full_name,
            person.email,
            person.title or "-",
            person.department or "-",
            manager,
            person.language,
        )

    @admin.display(description="CI details")
    def affected_ci_details(self, incident: SecurityIncident) -> str:
        ci = incident.affected_ci
        if not ci:
            return "-"
        return format_html(
            "{} ({})<br>Host: {} · IP: {}<br>Owner: {}",
            ci.name,
            ci.get_kind_display(),
            ci.hostname or "-",
            ci.ip_address or "-",
            ci.owner.full_name if ci.owner else "-",
        )

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
            # The newest entries (one more, to know whether older ones exist), oldest first.
            newest = list(
                incident.timeline.select_related("actor_user", "task", "evidence").order_by(
                    "-created_at", "-id"
                )[: TIMELINE_ON_INCIDENT_PAGE + 1]
            )
            extra_context.update(
                timeline=newest[:TIMELINE_ON_INCIDENT_PAGE][::-1],
                timeline_has_older=len(newest) > TIMELINE_ON_INCIDENT_PAGE,
                timeline_url=reverse(
                    "admin:incidents_securityincident_timeline", args=[incident.pk]
                ),
                can_act=can_change,
                panels=incident_panels(request, incident),
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

    def get_urls(self):
        def button(name: str, handler) -> URLPattern:
            return object_button_url(
                self,
                name,
                lambda request, incident: handler(request, incident, Actor.analyst(request.user)),
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
        """The whole timeline, oldest first, a page at a time: each page costs the same
        whatever the length of the timeline or the size of the table."""
        incident = get_object_or_404(SecurityIncident, pk=pk)
        if not self.has_view_or_change_permission(request, incident):
            raise PermissionDenied
        entries = incident.timeline.select_related("actor_user", "task", "evidence")
        page = Paginator(entries, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": incident,
            "title": f"Timeline of {incident.number}",
            "page": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
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


# --- Tasks ------------------------------------------------------------------------------


@admin.register(ResponseTask)
class ResponseTaskAdmin(InvisibleCharactersHintMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["number", "title", "incident", "state", "assignee", "due_at", "created_by_kind"]
    list_display_links = ["number", "title"]
    list_select_related = ["incident", "assignee"]
    list_filter = ["state", "created_by_kind", ("assignee", StaffListFilter)]
    search_fields = ["=number", "title", "=incident__number"]
    search_help_text = "A task or incident number finds it; other words search the titles."
    # Newest first (task_created_idx): the oldest of 200,000 tasks are the least wanted.
    ordering = ["-created_at", "-id"]
    autocomplete_fields = ["incident"]
    actions = ["start", "complete", "mark_incomplete", "cancel"]
    readonly_fields = [
        "number",
        "state",
        "created_by_kind",
        "created_by_name",
        "created_at",
        "updated_at",
        "closed_at",
    ]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        number = _number_lookup(
            search_term, {_TASK_NUMBER: "number", _INCIDENT_NUMBER: "incident__number"}
        )
        if number:
            return queryset.filter(**number), False
        return super().get_search_results(request, queryset, search_term)

    def get_readonly_fields(self, request, obj=None):
        # The incident is chosen when the task is created and never changes.
        return [*self.readonly_fields, "incident"] if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = staff_users()
        if db_field.name == "incident":
            # Closed and cancelled incidents take no new tasks (task_create refuses them);
            # offering only active ones turns that into a normal form error.
            kwargs["queryset"] = SecurityIncident.objects.exclude(
                state__in=[SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj: ResponseTask, form, change: bool) -> None:
        actor = Actor.analyst(request.user)
        data = form.cleaned_data
        if not change:
            task = task_create(
                actor=actor,
                incident=data["incident"],
                title=data["title"],
                description=data.get("description", ""),
                assignee=data.get("assignee"),
                due_at=data.get("due_at"),
            )
            obj.pk = task.pk
        else:
            changes = {f: data[f] for f in form.changed_data if f in TASK_EDITABLE_FIELDS}
            call_service(request, lambda: task_update(actor=actor, task=obj, **changes), "")
        obj.refresh_from_db()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        task = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if task is not None and self.has_change_permission(request, task):
            extra_context["transition_form"] = TaskTransitionForm(task=task)
            extra_context["transition_url"] = reverse(
                "admin:incidents_responsetask_transition", args=[task.pk]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            object_button_url(
                self,
                "transition",
                self._transition,
                allowed=self.has_change_permission,
                back_to=lambda task: reverse("admin:incidents_responsetask_change", args=[task.pk]),
            ),
            *super().get_urls(),
        ]

    def _transition(self, request: HttpRequest, task: ResponseTask) -> None:
        form = TaskTransitionForm(request.POST, task=task)
        if not form.is_valid():
            return form_errors_to_messages(request, form)
        to_state = form.cleaned_data["to_state"]
        call_service(
            request,
            lambda: task_transition(
                actor=Actor.analyst(request.user),
                task=task,
                to_state=to_state,
                reason=form.cleaned_data["reason"],
            ),
            f"{task.number} moved to {ResponseTask.State(to_state).label}.",
        )

    def _bulk_transition(self, request, queryset: QuerySet, to_state: str) -> None:
        actor = Actor.analyst(request.user)
        label = ResponseTask.State(to_state).label
        for task in queryset:
            call_service(
                request,
                lambda t=task: task_transition(actor=actor, task=t, to_state=to_state),
                f"{task.number} moved to {label}.",
            )

    @admin.action(description="Start selected tasks", permissions=["change"])
    def start(self, request, queryset):
        self._bulk_transition(request, queryset, ResponseTask.State.IN_PROGRESS)

    @admin.action(description="Complete selected tasks", permissions=["change"])
    def complete(self, request, queryset):
        self._bulk_transition(request, queryset, ResponseTask.State.COMPLETED)

    @admin.action(description="Mark selected tasks incomplete", permissions=["change"])
    def mark_incomplete(self, request, queryset):
        self._bulk_transition(request, queryset, ResponseTask.State.INCOMPLETE)

    @admin.action(description="Cancel selected tasks", permissions=["change"])
    def cancel(self, request, queryset):
        self._bulk_transition(request, queryset, ResponseTask.State.CANCELLED)


# --- Evidence and timeline (read-only) --------------------------------------------------


class QuarantinedFilter(admin.SimpleListFilter):
    title = "quarantined"
    parameter_name = "quarantined"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(quarantine_reason="")
        if self.value() == "no":
            return queryset.filter(quarantine_reason="")
        return queryset


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Evidence is added from the incident page, through evidence_add."""

    list_display = [
        "filename",
        "incident",
        "detected_content_type",
        "size",
        "source",
        "quarantined",
        "added_at",
        "download",
    ]
    list_select_related = ["incident"]
    list_filter = ["source", "detected_content_type", QuarantinedFilter]
    search_fields = ["filename", "sha256", "=incident__number"]
    exclude = ["file"]
    readonly_fields = [f.name for f in Evidence._meta.fields if f.name != "file"] + ["download"]

    @admin.display(description="quarantined", boolean=True)
    def quarantined(self, evidence: Evidence) -> bool:
        return evidence.quarantined

    @admin.display(description="File")
    def download(self, evidence: Evidence) -> str:
        url = reverse("admin:incidents_evidence_download", args=[evidence.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="incidents_evidence_download",
            ),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="incidents_evidence_preview",
            ),
            *super().get_urls(),
        ]

    def _readable(self, request: HttpRequest, pk: int) -> Evidence:
        # admin_view has already sent anyone who is not active staff to the login page.
        if not request.user.has_perm("incidents.view_evidence"):
            raise PermissionDenied
        return get_object_or_404(Evidence, pk=pk)

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """Always a download: the file is never rendered by the analyst's browser."""
        return evidence_download_response(self._readable(request, pk))

    def preview_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """Inline only for raster images identified by their bytes, under a type the
        browser will not reinterpret (nosniff) and a CSP that forbids everything."""
        evidence = self._readable(request, pk)
        if not evidence.previewable:
            raise Http404
        response = FileResponse(
            evidence.file.open("rb"), content_type=evidence.detected_content_type
        )
        response["Content-Disposition"] = "inline"
        return harden(response)


class TimelineKindFilter(admin.SimpleListFilter):
    """Each registered kind by its label. Listing the kinds in use (the default filter)
    reads the whole table with SELECT DISTINCT on every page load; the registry is fixed."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return kind_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


class TimelineNamespaceFilter(admin.SimpleListFilter):
    """Kinds by namespace ("task" for every task.* kind), as the registry names them."""

    title = "kind group"
    parameter_name = "kind_prefix"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(namespace, f"{namespace}.*") for namespace in kind_namespaces()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(kind__startswith=f"{self.value()}.")
        return queryset


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Read-only search across every incident's timeline."""

    list_display = ["created_at", "incident", "kind_shown", "actor_kind", "actor_name", "summary"]
    list_select_related = ["incident"]
    list_filter = [TimelineKindFilter, TimelineNamespaceFilter, "actor_kind"]
    search_fields = ["=incident__number", "summary"]
    search_help_text = "An incident number lists its entries; other words search summaries."
    # Newest first, read backwards from timeline_created_idx.
    ordering = ["-created_at", "-id"]

    @admin.display(description="kind", ordering="kind")
    def kind_shown(self, entry: TimelineEntry) -> str:
        # The raw name too: runbook authors and API users match on it.
        return format_html('{} <code class="soc-kind">{}</code>', entry.kind_label, entry.kind)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        number = _number_lookup(search_term, {_INCIDENT_NUMBER: "incident__number"})
        if number:
            return queryset.filter(**number), False
        return super().get_search_results(request, queryset, search_term)
