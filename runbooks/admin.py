"""Runbooks and their runs in the admin.

Authors edit a runbook's steps in an inline whose forms are built from the actions'
declared parameters and whose formset runs the same validation as runbook files and the
engine (runbooks/step_forms.py). The runbook list imports and exports YAML files
(runbooks/admin_files.py). A run's page is read-only: it changes only through the engine,
and through the resume and cancel buttons, which call the services.
"""

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.actors import Actor
from core.admin_helpers import ReadOnlyMixin, call_service, object_button_url
from runbooks.actions import ACTIONS
from runbooks.admin_files import RunbookFilesAdminMixin
from runbooks.definitions import runbook_definition
from runbooks.diagram import render_flow_svg
from runbooks.models import Runbook, RunbookRun, RunbookStep, StepResult
from runbooks.params import PLACEHOLDERS
from runbooks.placeholders import details_help
from runbooks.run_path import run_path_html, run_step_text
from runbooks.services import run_cancel, run_retry
from runbooks.step_forms import (
    RunbookStepForm,
    RunbookStepFormSet,
    params_html,
    step_fieldsets,
    step_form_class,
)
from runbooks.versions import runbook_bump_version

# Far above any real position, so steps being renumbered can park there (see save_formset).
PARKED_POSITION = 1_000_000


class RunbookStepInline(admin.StackedInline):
    """One block a step, its parameters as a form (runbooks/step_forms.py): stacked, the
    steps fit a laptop's width however many parameters an action takes."""

    model = RunbookStep
    form = RunbookStepForm
    formset = RunbookStepFormSet
    verbose_name = "step"
    readonly_fields = ["action_label", "outcomes", "parameters"]  # shown when read-only
    ordering = ["position"]
    extra = 1

    class Media:
        js = ["runbooks/step_form.js"]
        css = {"all": ["runbooks/step_form.css"]}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list:
        if not self.has_change_permission(request, obj):
            # Read-only (an analyst): each step's parameters as one readable list.
            fields = [("position", "action_label"), ("guard", "outcomes"), "parameters"]
            return [(None, {"fields": fields})]
        return step_fieldsets()

    @admin.display(description="Action")
    def action_label(self, step: RunbookStep) -> str:
        spec = ACTIONS.get(step.action)
        return spec.label if spec else step.action

    @admin.display(description="Outcomes")
    def outcomes(self, step: RunbookStep) -> str:
        return ", ".join(str(o) for o in step.guard_outcomes or []) or "-"

    @admin.display(description="Parameters")
    def parameters(self, step: RunbookStep) -> SafeString:
        return params_html(step.action, step.params or {})

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        # The parameters' fields come from the actions registry, read at request time.
        return super().get_formset(request, obj, form=step_form_class(), **kwargs)


# --- runbooks ---------------------------------------------------------------------------


@admin.register(Runbook)
class RunbookAdmin(RunbookFilesAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "trigger",
        "active",
        "version",
        "category_list",
        "min_priority",
        "updated_at",
    ]
    list_filter = ["active", "trigger"]
    search_fields = ["name"]
    filter_horizontal = ["categories"]
    inlines = [RunbookStepInline]
    readonly_fields = ["version", "updated_at", "flow", "reference"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "description",
                    "language",
                    "active",
                    "trigger",
                    "categories",
                    "min_priority",
                    ("version", "updated_at"),
                ]
            },
        ),
        ("Flow", {"fields": ["flow"]}),
        ("Actions and placeholders", {"fields": ["reference"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("categories")

    @admin.display(description="Categories")
    def category_list(self, runbook: Runbook) -> str:
        return ", ".join(c.name for c in runbook.categories.all()) or "any"

    @admin.display(description="Flow")
    def flow(self, runbook: Runbook) -> str:
        if runbook.pk is None:
            return "Save the runbook to see its flow."
        return mark_safe(render_flow_svg(runbook_definition(runbook)))  # noqa: S308 (all escaped)

    @admin.display(description="Reference")
    def reference(self, runbook: Runbook) -> SafeString:
        return _reference_html()

    def save_formset(self, request, form, formset, change: bool) -> None:
        if isinstance(formset, RunbookStepFormSet):
            # Renumbered and deleted steps first move out of the way: saving one by one,
            # swapping two positions would otherwise hit the unique (runbook, position).
            deleted = set(formset.deleted_forms)
            moving = [
                f.instance.pk
                for f in formset.initial_forms
                if f.instance.pk and (f in deleted or "position" in f.changed_data)
            ]
            RunbookStep.objects.filter(pk__in=moving).update(position=F("pk") + PARKED_POSITION)
        formset.save()

    def save_related(self, request, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A new runbook is version 1; every later change of it or its steps is a new one,
        # so a run shows which version it follows.
        if change and (form.has_changed() or any(fs.has_changed() for fs in formsets)):
            runbook_bump_version(runbook=form.instance)


def _reference_html() -> SafeString:
    actions = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
        (
            (
                name,
                spec.label,
                format_html_join(
                    "",
                    "<div><code>{}</code>{}: {}</div>",
                    (
                        (p, " (required)" if param.required else "", param.help)
                        for p, param in spec.params.items()
                    ),
                )
                or "-",
            )
            for name, spec in ACTIONS.items()
        ),
    )
    placeholders = format_html_join(
        "",
        "<li><code>{{{}}}</code>: {}</li>",
        [*PLACEHOLDERS.items(), ("details.<name>", details_help())],
    )
    return format_html(
        "<table><thead><tr><th>Action</th><th>Label</th><th>Parameters</th></tr></thead>"
        "<tbody>{}</tbody></table>"
        "<p>Placeholders for text parameters (task titles, notes, questions):</p><ul>{}</ul>",
        actions,
        placeholders,
    )


# --- runs -------------------------------------------------------------------------------


class StepResultInline(ReadOnlyMixin, admin.TabularInline):
    model = StepResult
    fields = ["step", "action_label", "status", "detail", "created_at"]
    readonly_fields = fields
    ordering = ["position"]
    extra = 0
    can_delete = False

    @admin.display(description="Step")
    def step(self, result: StepResult) -> int:
        return result.position + 1  # numbered from 1, as in the diagram and messages

    @admin.display(description="Action")
    def action_label(self, result: StepResult) -> str:
        spec = ACTIONS.get(result.action)
        return spec.label if spec else result.action


@admin.register(RunbookRun)
class RunbookRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "runbook",
        "version",
        "incident_link",
        "state",
        "position",
        "created_at",
        "updated_at",
    ]
    list_filter = ["state", "runbook"]
    search_fields = ["=incident__number"]
    list_select_related = ["runbook", "incident"]
    inlines = [StepResultInline]
    actions = ["resume_failed", "cancel_runs"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("runbook", "version"),
                    ("incident_link", "trigger_entry"),
                    ("state", "step_now", "attempts"),
                    "error",
                    ("created_at", "updated_at", "finished_at"),
                ]
            },
        ),
        ("Path taken", {"fields": ["flow"]}),
        # What the steps stored (the answer, the question's id): for whoever debugs a run.
        ("Context", {"fields": ["context_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "runbook",
        "version",
        "incident_link",
        "trigger_entry",
        "state",
        "step_now",
        "attempts",
        "error",
        "created_at",
        "updated_at",
        "finished_at",
        "flow",
        "context_json",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("runbook", "incident")

    # A run changes only through the engine and the two services below: the page is
    # read-only for everyone, and "operate" (change_runbookrun) allows resume and cancel.

    def has_operate_permission(self, request, obj=None) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    # --- display

    @admin.display(description="Incident", ordering="incident__number")
    def incident_link(self, run: RunbookRun) -> str:
        url = reverse("admin:incidents_securityincident_change", args=[run.incident_id])
        return format_html('<a href="{}">{}</a>', url, run.incident.number)

    @admin.display(description="Step")
    def step_now(self, run: RunbookRun) -> str:
        return run_step_text(run)

    @admin.display(description="Diagram")
    def flow(self, run: RunbookRun) -> str:
        return run_path_html(run, run.results.all())

    @admin.display(description="Context")
    def context_json(self, run: RunbookRun) -> str:
        text = json.dumps(run.context, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    # --- resume and cancel: bulk actions, and buttons on the run's page

    @admin.action(description="Resume selected failed runs", permissions=["operate"])
    def resume_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        for run in queryset:
            self._resume(request, run)

    @admin.action(description="Cancel selected runs", permissions=["operate"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        for run in queryset:
            self._cancel(request, run)

    def _resume(self, request: HttpRequest, run: RunbookRun) -> None:
        call_service(
            request,
            lambda: run_retry(run=run, actor=Actor.analyst(request.user)),
            f"Run {run.pk} resumed at step {run.position + 1}.",
        )

    def _cancel(self, request: HttpRequest, run: RunbookRun) -> None:
        if run_cancel(run=run, actor=Actor.analyst(request.user), reason="Cancelled in the admin"):
            messages.success(request, f"Run {run.pk} cancelled.")
        else:
            messages.warning(request, f"Run {run.pk} had already finished; nothing to cancel.")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if run is not None and self.has_operate_permission(request, run):
            extra_context.update(
                can_resume=run.state == RunbookRun.State.FAILED,
                can_cancel=run.state
                in (RunbookRun.State.RUNNING, RunbookRun.State.WAITING, RunbookRun.State.FAILED),
                resume_url=reverse("admin:runbooks_runbookrun_resume", args=[run.pk]),
                cancel_url=reverse("admin:runbooks_runbookrun_cancel", args=[run.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        def button(name: str, handler) -> URLPattern:
            return object_button_url(
                self,
                name,
                handler,
                allowed=self.has_operate_permission,
                back_to=lambda run: reverse("admin:runbooks_runbookrun_change", args=[run.pk]),
            )

        return [button("resume", self._resume), button("cancel", self._cancel), *super().get_urls()]
