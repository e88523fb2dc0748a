"""The admin's form for a runbook step, built from the actions' declared parameters.

Every action's parameters become named, typed fields (`Param.kind` picks the field), so no
action has a hand-written form and an author never types JSON. A step's form holds the
fields of every action, grouped by action; a small static script shows the group of the
chosen action, and without it every group shows under its heading and only the chosen
action's is read. A step's guard outcomes are ticked from the options of the question
before it. The formset runs the same validation as runbook files and the engine
(validate_steps) and shows each problem beside the field of the step it concerns.
"""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from runbooks.actions import ACTIONS, Action
from runbooks.definitions import (
    ASKING_ACTIONS,
    GUARDS_WITH_OUTCOMES,
    DefinitionError,
    action_choices,
    asked_options,
    validate_steps,
)
from runbooks.models import RunbookStep
from runbooks.outcomes import SPECIAL_OUTCOMES
from runbooks.param_fields import ApproversField, HoursField, OptionsField, StepTextField
from runbooks.params import PLACEHOLDERS, Param
from runbooks.placeholders import details_help
from runbooks.translated_fields import (
    TranslatedTextField,
)
from runbooks.translations import DEFAULT_LANGUAGE, in_language

BASE_FIELDS = ["position", "action", "guard", "guard_outcomes"]
OUTCOME_LABELS = {
    "unrecognised": "Answer unrecognised",
    "no_answer": "No answer by the deadline",
    "undeliverable": "Email undeliverable",
    "suspicious": "Reported the email as suspicious",
    "no_target": "Nobody to ask (e.g. no manager)",
    "out_of_office": "Away for longer than the step waits",
}


def param_field_name(action: str, param: str) -> str:
    return f"param__{action}__{param}"


# --- one field per parameter ------------------------------------------------------------


def param_field(param: Param, name: str) -> forms.Field:
    """The form field for one declared parameter."""
    label = param.label_for(name)
    common: dict[str, Any] = {"required": param.required, "help_text": param.help}
    if param.kind == "options":
        return OptionsField(label=label, initial=[], **common)
    if param.kind == "approvers":
        return ApproversField(label=label, initial=[], strip=False, **common)
    initial = param.default
    if param.kind == "hours":
        return HoursField(
            label=f"{label} ({param.unit})" if param.unit else label,
            initial=initial,
            widget=forms.TextInput(attrs={"class": "vTextField", "placeholder": "e.g. 4, 24"}),
            **common,
        )
    if param.kind == "int":
        return forms.IntegerField(
            label=f"{label} ({param.unit})" if param.unit else label,
            min_value=0,
            initial=initial,
            widget=forms.NumberInput(attrs={"class": "vIntegerField", "min": 0}),
            **common,
        )
    if param.kind == "bool":
        return forms.BooleanField(label=label, initial=bool(initial), **common)
    if param.kind == "choice":
        blank = [] if param.default is not None else [("", "---------")]
        return forms.ChoiceField(
            label=label, choices=[*blank, *param.choice_pairs()], initial=initial, **common
        )
    if param.kind == "template":
        common["help_text"] = f"{param.help} Placeholders allowed (listed above)."
        if param.translatable:
            common["help_text"] += " Write it in the languages people may read it in."
            return TranslatedTextField(label=label, initial=initial or "", **common)
        return StepTextField(
            label=label,
            initial=initial,
            strip=False,
            widget=forms.Textarea(attrs={"rows": 2, "class": "step-text"}),
            **common,
        )
    return forms.CharField(
        label=label,
        initial=initial,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        **common,
    )


class OutcomesField(forms.MultipleChoiceField):
    """Option keys of the question before the step, ticked. The formset offers the keys;
    whether a key belongs to that question is checked with the whole runbook, where a
    mismatch is explained (validate_steps)."""

    widget = forms.CheckboxSelectMultiple

    def valid_value(self, value: str) -> bool:
        return isinstance(value, str) and 0 < len(value) <= 30


# --- the step's form --------------------------------------------------------------------


def _model_default(name: str) -> Any:
    # A field declared on the form does not take the model field's default as its initial
    # value the way a generated one does; an untouched extra row must equal what it posts.
    return RunbookStep._meta.get_field(name).default


class RunbookStepForm(forms.ModelForm):
    # A blank first choice, so an untouched extra row stays unchanged and is ignored.
    action = forms.ChoiceField(choices=lambda: [("", "---------"), *action_choices()])
    guard_outcomes = OutcomesField(
        initial=_model_default("guard_outcomes"),
        required=False,
        label="Outcomes",
        help_text="For 'answer is one of' and 'anything but': tick options of the question "
        "before this step.",
    )

    class Meta:
        model = RunbookStep
        fields = BASE_FIELDS

    def __init__(self, *args, language: str = DEFAULT_LANGUAGE, **kwargs):
        super().__init__(*args, **kwargs)
        # Texts in several languages show the runbook's default language first.
        self.language = language
        for field in self.fields.values():
            if hasattr(field.widget, "language"):
                field.widget.language = language
        # Fields of the actions not chosen are on the page too: a browser must not refuse
        # to post the form because one of them, hidden, is empty.
        self.use_required_attribute = False
        step = self.instance
        for name, field in self.fields.items():
            if name.startswith("param__") and step.pk and step.action == field.action_name:
                value = step.params.get(field.param_name, field.initial)
                self.initial[name] = value
        self.fields["action"].widget.attrs["class"] = "step-action"
        self.fields["guard"].widget.attrs["class"] = "step-guard"

    def offer_outcomes(self, options: list[dict] | None) -> None:
        choices = [
            (str(o.get("key")), f"{in_language(o.get('label'), self.language)} ({o.get('key')})")
            for o in options or []
            if isinstance(o, dict) and o.get("key")
        ]
        choices += [(key, OUTCOME_LABELS[key]) for key in SPECIAL_OUTCOMES]
        offered = {key for key, _ in choices}
        # Keep what the step has even if it is no option (any more): shown ticked, and
        # reported on save.
        chosen = self.data.getlist(self.add_prefix("guard_outcomes")) if self.is_bound else []
        chosen = chosen or list(self.initial.get("guard_outcomes") or [])
        choices += [(str(k), f"{k} (not an option)") for k in chosen if str(k) not in offered]
        self.fields["guard_outcomes"].choices = choices

    def chosen_action(self) -> str:
        return self.cleaned_data.get("action") or ""

    @cached_property
    def changed_data(self) -> list[str]:
        # What the other actions' fields hold is not part of the step.
        chosen = self.data.get(self.add_prefix("action")) if self.is_bound else self.instance.action
        return [
            name
            for name in super().changed_data
            if not name.startswith("param__") or self.fields[name].action_name == chosen
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        # Only the chosen action's fields count: forget what the others' say.
        chosen = self.chosen_action()
        for name, field in self.fields.items():
            if name.startswith("param__") and field.action_name != chosen:
                self._errors.pop(name, None)
                cleaned.pop(name, None)
        return cleaned

    def step_params(self) -> dict[str, Any]:
        """The chosen action's parameters as the engine stores them; a blank field is left
        out, so validation fills in its default."""
        spec = ACTIONS.get(self.chosen_action())
        params: dict[str, Any] = {}
        for name in spec.params if spec else ():
            value = self.cleaned_data.get(param_field_name(spec.name, name))
            # An empty list of hours means "none" (not the default); empty options do not.
            none_of_hours = spec.params[name].kind == "hours" and value == []
            if none_of_hours or (value is not None and value != "" and value != []):
                params[name] = value
        return params


def step_form_class() -> type[RunbookStepForm]:
    """RunbookStepForm with a field for each parameter of each action in the registry
    (settings.RUNBOOK_ACTIONS, read per request: tests may change it)."""
    fields: dict[str, forms.Field] = {}
    for action_name, spec in ACTIONS.items():
        for name, param in spec.params.items():
            field = param_field(param, name)
            field.action_name, field.param_name = action_name, name
            fields[param_field_name(action_name, name)] = field
    return type("RunbookStepForm", (RunbookStepForm,), fields)


def step_fieldsets() -> list[tuple[str | None, dict]]:
    """The step's own fields, then one group of fields per action that takes any."""
    fieldsets: list[tuple[str | None, dict]] = [
        (None, {"fields": [("position", "action"), ("guard", "guard_outcomes")]})
    ]
    for action_name, spec in ACTIONS.items():
        if spec.params:
            fieldsets.append(
                (
                    f"Parameters of “{spec.label}”",
                    {
                        "fields": [param_field_name(action_name, p) for p in spec.params],
                        "classes": ["step-params", f"step-params-{action_name}"],
                        "description": _action_description(spec),
                    },
                )
            )
    return fieldsets


def _action_description(spec: Action) -> SafeString:
    help_text = format_html("<p>{}</p>", spec.help)
    if not any(p.kind == "template" for p in spec.params.values()):
        return help_text
    listed = format_html_join(
        "",
        "<li><code>{{{}}}</code> {}</li>",
        [*PLACEHOLDERS.items(), ("details.<name>", details_help())],
    )
    return format_html(
        '{}<details class="step-placeholders"><summary>Placeholders for the text fields'
        "</summary><ul>{}</ul></details>",
        help_text,
        listed,
    )


def params_html(action: str, params: dict[str, Any]) -> SafeString:
    """A step's parameters as its action's labels and readable values, for reading."""
    spec = ACTIONS.get(action)
    if spec is None or not spec.params:
        return format_html("{}", "-")

    def shown(param: Param, value: Any) -> str:
        if param.kind == "options" and isinstance(value, list):
            return "; ".join(
                f"{_in_default(o.get('label'))} ({o.get('key')})"
                for o in value
                if isinstance(o, dict)
            )
        if param.kind == "approvers" and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            return _in_default(value)
        if param.kind == "bool":
            return "yes" if value else "no"
        if param.kind == "choice":
            return dict(param.choice_pairs()).get(value, str(value))
        if param.kind == "hours" and isinstance(value, list):
            return ", ".join(str(hours) for hours in value) or "none"
        return "" if value is None else str(value)

    rows = (
        (
            f"{param.label_for(name)} ({param.unit})" if param.unit else param.label_for(name),
            shown(param, params.get(name, param.default)),
        )
        for name, param in spec.params.items()
    )
    return format_html(
        '<dl class="step-params-read">{}</dl>',
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", ((k, v or "-") for k, v in rows)),
    )


def _in_default(value: Any) -> str:
    """A text written in several languages, read in one, saying how many there are."""
    text = in_language(value, DEFAULT_LANGUAGE)
    return f"{text} (in {len(value)} languages)" if isinstance(value, dict) else text


# --- the steps together -----------------------------------------------------------------


class RunbookStepFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        # The runbook's default language comes first in every text in several languages.
        language = getattr(self.instance, "language", "") or DEFAULT_LANGUAGE
        return {**super().get_form_kwargs(index), "language": language}

    @cached_property
    def forms(self) -> list[RunbookStepForm]:
        built = super().forms
        self._offer_outcomes(built)
        return built

    def _offer_outcomes(self, built: list[RunbookStepForm]) -> None:
        """Each step's outcome choices: the options of the last question before it, in
        the order the steps will run (as posted, when the page was posted)."""
        rows = []
        for index, form in enumerate(built):
            action, position, options = self._as_shown(form)
            if action is None:
                continue  # marked for deletion
            rows.append(
                (position if position is not None else 10**9 + index, form, action, options)
            )
        rows.sort(key=lambda row: row[0])
        last_options: list[dict] | None = None
        for _position, form, action, options in rows:
            form.offer_outcomes(last_options)
            if action in ASKING_ACTIONS:
                last_options = asked_options(action, {"options": options})

    def _as_shown(self, form: RunbookStepForm) -> tuple[str | None, int | None, list]:
        options_field = param_field_name("ask_user", "options")
        if form.is_bound:
            if self.can_delete and form.data.get(form.add_prefix("DELETE")):
                return None, None, []
            action = form.data.get(form.add_prefix("action")) or ""
            try:
                position = int(form.data.get(form.add_prefix("position")) or "")
            except ValueError:
                position = None
            options = []
            if options_field in form.fields:
                widget = form.fields[options_field].widget
                options = widget.value_from_datadict(
                    form.data, form.files, form.add_prefix(options_field)
                )
            return action, position, options
        step = form.instance
        return step.action or "", step.position, (step.params or {}).get("options") or []

    @property
    def empty_form(self) -> RunbookStepForm:
        form = super().empty_form
        questions = [f for f in self.forms if f.instance.action in ASKING_ACTIONS]
        last = (
            asked_options(questions[-1].instance.action, questions[-1].instance.params)
            if questions
            else None
        )
        form.offer_outcomes(last)
        return form

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
                "params": form.step_params(),
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
            form.instance.params = step["params"]
            form.instance.guard_outcomes = form.cleaned_data["guard_outcomes"] = step["outcomes"]

    def _duplicate_positions(self, live: list[RunbookStepForm]) -> bool:
        seen: dict[int, RunbookStepForm] = {}
        found = False
        for form in live:
            position = form.cleaned_data["position"]
            if position in seen:
                form.add_error("position", f"Another step already has position {position}.")
                found = True
            seen[position] = form
        return found

    def _show_errors(self, ordered: list[RunbookStepForm], errors: dict) -> None:
        for where, fields in errors.items():
            if where == "steps":  # no step at all
                raise ValidationError(list(fields.values()))
            index = int(where.removeprefix("step ")) - 1
            form = ordered[index]
            asked = any(f.cleaned_data["action"] in ASKING_ACTIONS for f in ordered[:index])
            for field, message in fields.items():
                target = self._field_for(form, field, asked)
                form.add_error(target, message if target else f"{field}: {message}")

    @staticmethod
    def _field_for(form: RunbookStepForm, field: str, asked: bool) -> str | None:
        if field.startswith("params."):
            name = param_field_name(form.chosen_action(), field.removeprefix("params."))
            return name if name in form.fields else None
        if field == "if":
            # Without a question before it the guard itself is wrong; otherwise a guard
            # with outcomes is wrong in its outcomes.
            with_outcomes = form.cleaned_data.get("guard") in GUARDS_WITH_OUTCOMES
            return "guard_outcomes" if asked and with_outcomes else "guard"
        if field == "action":
            return "action"
        return None
