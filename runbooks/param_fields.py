"""The form fields of a step's parameters that are more than one input: a question's
options (key, label per language, next), the approvers of an approval, a list of hours,
and a text box."""

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from runbooks.approvers import clean_approvers
from runbooks.params import clean_hours
from runbooks.translated_fields import option_label_inputs, posted_main, posted_option_label
from runbooks.translations import DEFAULT_LANGUAGE

# How many option rows the form offers at most for a new question: a question has a few
# options (one imported from a file with more shows them all).
MAX_OPTIONS = 12
SPARE_OPTION_ROWS = 2
MAX_POSTED_OPTIONS = 100

# --- the options of a question ----------------------------------------------------------


class OptionsWidget(forms.Widget):
    """Rows of key, label and next inputs, a few of them blank for new options; each label
    in the runbook's default language, with the other languages' below it (see
    runbooks.translated_fields). (Rendered here: the default form renderer does not read
    the project's template folder.)"""

    language = DEFAULT_LANGUAGE  # the runbook's default language; set per form

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> str:
        options = [o for o in (value or []) if isinstance(o, dict)]
        count = max(min(max(len(options) + SPARE_OPTION_ROWS, 4), MAX_OPTIONS), len(options))
        base_id = (attrs or {}).get("id") or self.attrs.get("id") or name
        rows = format_html_join(
            "",
            '<tr><td><input type="text" name="{}-key-{}" id="{}-key-{}" value="{}" size="12" '
            'maxlength="30" aria-label="Option {} key"></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    name, index, base_id, index, option.get("key", ""), index + 1,
                    option_label_inputs(name, index, base_id, option.get("label"), self.language),
                    option_label_inputs(
                        name, index, base_id, option.get("next"), self.language, part="next"
                    ),
                )
                for index, option in enumerate(
                    options + [{}] * (count - len(options))
                )
            ),
        )  # fmt: skip
        return format_html(
            '<table class="step-options"><thead><tr><th scope="col">Key</th>'
            '<th scope="col">Label (what the person sees)</th>'
            '<th scope="col">What happens next (told after that answer; optional)</th>'
            "</tr></thead>"
            '<tbody>{}</tbody></table><input type="hidden" name="{}-main" value="{}">',
            rows,
            name,
            self.language,
        )

    def value_from_datadict(self, data, files, name: str) -> list[dict[str, str]]:
        options = []
        # The rows the page showed, numbered from 0: at least MAX_OPTIONS, more when a
        # stored question had more; capped, a post is written by anyone.
        rows = next(
            (i for i in range(MAX_POSTED_OPTIONS) if f"{name}-key-{i}" not in data),
            MAX_POSTED_OPTIONS,
        )
        main = posted_main(data, name, self.language)
        for index in range(rows):
            key = (data.get(f"{name}-key-{index}") or "").strip()
            label = posted_option_label(data, name, index, main)
            next_text = posted_option_label(data, name, index, main, part="next")
            if key or label:
                option = {"key": key, "label": label}
                if next_text:
                    option["next"] = next_text
                options.append(option)
        return options

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return f"{name}-key-0" not in data

    def id_for_label(self, id_: str) -> str:
        return f"{id_}-key-0" if id_ else id_


class OptionsField(forms.Field):
    widget = OptionsWidget

    def to_python(self, value: Any) -> list[dict[str, str]]:
        return list(value) if isinstance(value, list) else []

    def has_changed(self, initial: Any, data: Any) -> bool:
        return (initial or []) != self.to_python(data)


class ApproversField(forms.CharField):
    """ask_approval's approvers, one per line (manager, person:<email>, group:<name>);
    stored as a list. What is wrong with an entry is said by the runbook's validation."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "class": "step-text"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str] | str:
        text = super().to_python(value)
        try:
            return clean_approvers(text) if text.strip() else []
        except ValueError:
            return text  # kept as typed; validate_steps explains the problem

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.prepare_value(initial or []) != self.prepare_value(self.to_python(data))


class HoursField(forms.Field):
    """Whole hours typed as "4, 24"; empty for none. Checked as runbook files are
    (runbooks.params.clean_hours)."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(str(hours) for hours in value)
        return "" if value is None else str(value)

    def to_python(self, value: Any) -> list[int]:
        if isinstance(value, list):
            return value
        hours = []
        for part in str(value or "").replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or len(part) > 6:
                raise ValidationError(f"“{part[:20]}” is not a whole number of hours.")
            hours.append(int(part))
        try:
            return clean_hours(hours)
        except ValueError as error:
            raise ValidationError(str(error).capitalize() + ".") from error

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(initial or []) != self.to_python(data)
        except ValidationError:
            return True


class StepTextField(forms.CharField):
    """Text kept as typed, except that a browser posts a textarea's line breaks as CRLF:
    read back as stored, so an untouched step stays unchanged."""

    def to_python(self, value: Any) -> str:
        return super().to_python(value).replace("\r\n", "\n")
