"""Runbooks and their runs in the admin.

Authors edit a runbook's steps in an inline whose formset runs the same validation as
runbook files and the engine (validate_steps), with each problem shown beside the field of
the step it concerns. A run's page is read-only: it changes only through the engine, and
through the resume and cancel buttons, which call the services.
"""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.actors import Actor
from core.admin_helpers import ReadOnlyMixin, call_service, object_button_url
from runbooks.actions import ACTIONS, PLACEHOLDERS, Action
from runbooks.definitions import (
    GUARDS_WITH_OUTCOMES,
    DefinitionError,
    action_choices,
    runbook_definition,
    validate_steps,
)
from runbooks.diagram import render_flow_svg
from runbooks.models import Runbook, RunbookRun, RunbookStep, StepResult
from runbooks.run_path import run_path_html, run_step_text
from runbooks.services import run_cancel, run_retry
from runbooks.versions import runbook_bump_version

# Far above any real position, so steps being renumbered can park there (see save_formset).
PARKED_POSITION = 1_000_000


def _params_help(spec: Action) -> str:
    if not spec.params:
        return f"{spec.name} takes no parameters."
    return f"{spec.name}: " + "; ".join(
        f"{name}{' (required)' if param.required else ''}: {param.help}"
        for name, param in spec.params.items()
    )


def _all_params_help() -> str:
    def names(spec: Action) -> str:
        return ", ".join(p + ("*" if spec.params[p].required else "") for p in spec.params)

    listed = " · ".join(f"{name}: {names(spec) or '-'}" for name, spec in ACTIONS.items())
    return f"JSON object of parameters. {listed} (* required)"


# --- runbook steps ----------------------------------------------------------------------


class OutcomesField(forms.CharField):
    """The JSON list of option keys, typed as "yes, no"."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        text = super().to_python(value)
        return [part.strip() for part in text.split(",") if part.strip()]


class ParamsField(forms.JSONField):
    """The parameters as indented JSON, one per line, which is easier to edit."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):  # shown again as it was typed
            return value
        return json.dumps(value, ensure_ascii=False, indent=2)


def _model_default(name: str) -> Any:
    # A field declared on the form does not take the model field's default as its initial
    # value the way a generated one does. Without it an extra row starts from None, shown
    # as "null" and unequal to the empty value posted back, so the untouched row counts as
    # changed and is validated as a step.
    return RunbookStep._meta.get_field(name).default


class RunbookStepForm(forms.ModelForm):
    # A blank first choice, so an untouched extra row stays unchanged and is ignored.
    action = forms.ChoiceField(choices=lambda: [("", "---------"), *action_choices()])
    guard_outcomes = OutcomesField(
        initial=_model_default("guard_outcomes"),
        required=False,
        label="Outcomes",
        help_text=RunbookStep._meta.get_field("guard_outcomes").help_text
        + " Comma-separated, e.g. yes, no.",
        widget=forms.TextInput(attrs={"size": 14}),
    )
    params = ParamsField(
        initial=_model_default("params"),
        required=False,
        help_text=_all_params_help(),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 44}),
    )

    class Meta:
        model = RunbookStep
        fields = ["position", "action", "guard", "guard_outcomes", "params"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The column header lists every action's parameters; the box itself (tooltip)
        # lists those of the action the step has.
        spec = ACTIONS.get(self.instance.action or "")
        if spec is not None:
            self.fields["params"].widget.attrs["title"] = _params_help(spec)


class RunbookStepFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        """Check the steps together, in position order, as the engine will run them."""
        live = [
            form
            for form in self.forms
            if form.cleaned_data and not (self.can_delete and self._should_delete_form(form))
        ]
        if any(form.errors for form in live):
            return  # fix the single fields first; the order may not even be known
        if self._duplicate_positions(live):
            return
        super().clean()
        live.sort(key=lambda form: form.cleaned_data["position"])
        steps = [
            {
                "action": form.cleaned_data["action"],
                "guard": form.cleaned_data["guard"],
                "outcomes": form.cleaned_data["guard_outcomes"],
                "params": form.cleaned_data["params"] or {},
            }
            for form in live
        ]
        try:
            cleaned = validate_steps(steps)
        except DefinitionError as error:
            self._show_errors(live, error.errors)
            return
        for form, step in zip(live, cleaned, strict=True):
            # Saved with the defaults filled in, as the engine expects them.
            form.instance.params = form.cleaned_data["params"] = step["params"]
            form.instance.guard_outcomes = form.cleaned_data["guard_outcomes"] = step["outcomes"]

    def _duplicate_positions(self, live: list[forms.ModelForm]) -> bool:
        seen: dict[int, forms.ModelForm] = {}
        found = False
        for form in live:
            position = form.cleaned_data["position"]
            if position in seen:
                form.add_error("position", f"Another step already has position {position}.")
                found = True
            seen[position] = form
        return found

    def _show_errors(self, ordered: list[forms.ModelForm], errors: dict) -> None:
        for where, fields in errors.items():
            if where == "steps":  # no step at all
                raise ValidationError(list(fields.values()))
            index = int(where.removeprefix("step ")) - 1
            form = ordered[index]
            asked = any(f.cleaned_data["action"] == "ask_user" for f in ordered[:index])
            for field, message in fields.items():
                target = self._field_for(form, field, asked)
                form.add_error(target, self._message(field, message))

    @staticmethod
    def _field_for(form: forms.ModelForm, field: str, asked: bool) -> str | None:
        if field == "params" or field.startswith("params."):
            return "params"
        if field == "if":
            # Without a question before it the guard itself is wrong; otherwise a guard
            # with outcomes is wrong in its outcomes.
            with_outcomes = form.cleaned_data.get("guard") in GUARDS_WITH_OUTCOMES
            return "guard_outcomes" if asked and with_outcomes else "guard"
        if field == "action":
            return "action"
        return None

    @staticmethod
    def _message(field: str, message: str) -> str:
        name = field.removeprefix("params.")
        return f"{name}: {message}" if field.startswith("params.") else message


class RunbookStepInline(admin.TabularInline):
    model = RunbookStep
    form = RunbookStepForm
    formset = RunbookStepFormSet
    fields = ["position", "action", "guard", "guard_outcomes", "params"]
    ordering = ["position"]
    extra = 1


# --- runbooks ---------------------------------------------------------------------------


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
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
    placeholders = format_html_join("", "<li><code>{{{}}}</code>: {}</li>", PLACEHOLDERS.items())
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
