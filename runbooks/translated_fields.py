"""The step form's fields for texts a runbook author writes in several languages.

A text shows the runbook's default language first, as one box named like any other field
(so a form posted without translations reads as before), and the other languages below it
in a collapsed group, each box named `<field>-<code>`. A hidden `<field>-main` says which
language the first box held when the page was shown: an author who changes the runbook's
language on the same page does not turn the English texts into German ones.

What is posted becomes a plain string when only the first box's language is written (as
runbooks were before translations), else a mapping {code: text} in LANGUAGES order.
"""

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from runbooks.translations import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES, Translatable


def texts_of(value: Any, main: str) -> dict[str, str]:
    """{code: text} of a stored value; a plain string is the main language's."""
    if isinstance(value, dict):
        return {code: str(text) for code, text in value.items() if isinstance(text, str)}
    return {main: value} if isinstance(value, str) and value else {}


def stored(texts: dict[str, str], main: str) -> Translatable:
    """What the step keeps: "" for nothing, a string for the main language alone."""
    written = {code: texts[code] for code in LANGUAGES if texts.get(code, "").strip()}
    if not written:
        return ""
    if set(written) == {main}:
        return written[main]
    return written


def posted_main(data: Any, name: str, default: str) -> str:
    main = data.get(f"{name}-main")
    return main if main in LANGUAGES else default


def _others_summary(texts: dict[str, str], main: str) -> str:
    others = [code for code in LANGUAGES if code != main]
    written = sum(1 for code in others if texts.get(code, "").strip())
    return f"Other languages ({written} of {len(others)} written)"


class TranslatedTextWidget(forms.Widget):
    """The default language's textarea, then the other five in a <details>."""

    language = DEFAULT_LANGUAGE  # the runbook's default language; set per form

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer=None) -> str:
        main = self.language
        texts = texts_of(value, main)
        base_id = (attrs or {}).get("id") or name
        others = format_html_join(
            "",
            '<p class="step-translation"><label for="{}-{}">{}</label>'
            '<textarea name="{}-{}" id="{}-{}" rows="2" class="step-text" lang="{}">{}</textarea>'
            "</p>",
            (
                (base_id, code, LANGUAGE_NAMES[code], name, code, base_id, code, code,
                 texts.get(code, ""))
                for code in LANGUAGES
                if code != main
            ),
        )  # fmt: skip
        return format_html(
            '<div class="step-translated"><p class="step-main-language">{} (default)</p>'
            '<textarea name="{}" id="{}" rows="2" class="step-text" lang="{}">{}</textarea>'
            '<input type="hidden" name="{}-main" value="{}">'
            '<details class="step-translations"><summary>{}</summary>{}</details></div>',
            LANGUAGE_NAMES[main],
            name,
            base_id,
            main,
            texts.get(main, ""),
            name,
            main,
            _others_summary(texts, main),
            others,
        )

    def value_from_datadict(self, data, files, name: str) -> Translatable:
        main = posted_main(data, name, self.language)
        texts = {code: _text(data.get(f"{name}-{code}")) for code in LANGUAGES}
        texts[main] = _text(data.get(name))
        return stored(texts, main)

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return name not in data and not any(f"{name}-{code}" in data for code in LANGUAGES)


def _text(value: Any) -> str:
    # Kept as typed, except that a browser posts a textarea's line breaks as CRLF.
    return str(value or "").replace("\r\n", "\n")


class TranslatedTextField(forms.Field):
    widget = TranslatedTextWidget

    def to_python(self, value: Any) -> Translatable:
        return value if isinstance(value, dict | str) else ""

    def has_changed(self, initial: Any, data: Any) -> bool:
        return (initial or "") != (self.to_python(data) or "")


# The parts of an option written per language: (CSS class, words for the label).
OPTION_PARTS = {
    "label": ("step-option-label", "label"),
    "next": ("step-option-next", "what happens next"),
}


def option_label_inputs(
    name: str, index: int, base_id: str, label: Any, main: str, part: str = "label"
) -> SafeString:
    """An option row's label (or next) cell: the default language's input (named
    `<name>-<part>-<i>`), then the other languages' in a <details>."""
    css, words = OPTION_PARTS[part]
    texts = texts_of(label, main)
    others = format_html_join(
        "",
        '<label class="step-option-translation"><abbr title="{}">{}</abbr><input type="text" '
        'name="{}-{}-{}-{}" id="{}-{}-{}-{}" value="{}" lang="{}" class="{}" '
        'aria-label="Option {} {}, {}"></label>',
        (
            (LANGUAGE_NAMES[code], code, name, part, index, code, base_id, part, index, code,
             texts.get(code, ""), code, css, index + 1, words, LANGUAGE_NAMES[code])
            for code in LANGUAGES
            if code != main
        ),
    )  # fmt: skip
    return format_html(
        '<input type="text" name="{}-{}-{}" id="{}-{}-{}" value="{}" lang="{}" '
        'class="{}" aria-label="Option {} {}">'
        '<details class="step-translations"><summary>{}</summary>{}</details>',
        name, part, index, base_id, part, index, texts.get(main, ""), main,
        css, index + 1, words, _others_summary(texts, main), others,
    )  # fmt: skip


def posted_option_label(
    data: Any, name: str, index: int, main: str, part: str = "label"
) -> Translatable:
    texts = {
        code: str(data.get(f"{name}-{part}-{index}-{code}") or "").strip() for code in LANGUAGES
    }
    texts[main] = str(data.get(f"{name}-{part}-{index}") or "").strip()
    return stored(texts, main)
