"""Response tasks: their list and page, and their transitions one by one or in bulk."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from core.actors import Actor
from core.admin_helpers import (
    InvisibleCharactersHintMixin,
    LargeTableAdminMixin,
    StaffListFilter,
    call_service,
    form_errors_to_messages,
    object_button_url,
)
from incidents.admin.list_filters import TaskDueFilter
from incidents.admin.search import INCIDENT_NUMBER, TASK_NUMBER, number_lookup
from incidents.forms import TaskTransitionForm, staff_users
from incidents.models import ResponseTask, SecurityIncident
from incidents.services import TASK_EDITABLE_FIELDS, task_create, task_transition, task_update


@admin.register(ResponseTask)
class ResponseTaskAdmin(InvisibleCharactersHintMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ["number", "title", "incident", "state", "assignee", "due_at", "created_by_kind"]
    list_display_links = ["number", "title"]
    list_select_related = ["incident", "assignee"]
    list_filter = ["state", TaskDueFilter, "created_by_kind", ("assignee", StaffListFilter)]
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
        number = number_lookup(
            search_term, {TASK_NUMBER: "number", INCIDENT_NUMBER: "incident__number"}
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
