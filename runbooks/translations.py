"""Texts a runbook author may write in several languages: a plain string, or a mapping
of language code to string, e.g. {"en": "Was this you?", "de": "Waren Sie das?"}."""

from collections.abc import Callable
from typing import Any

# The languages the email and page templates ship in, and whose reply words the app reads.
LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
# A runbook's default language when none is set: the one its texts fall back to.
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "nl": "Dutch",
    "it": "Italian",
}

Translatable = str | dict[str, str]


def base_language(code: str | None) -> str:
    """'de-CH' -> 'de'; empty -> ''."""
    return (code or "").split("-")[0].split("_")[0].lower()


def person_language(code: str | None, fallback: str) -> str:
    """The language to write to a person in: theirs from the directory when the app
    speaks its base language ("de-CH" stays "de-CH": Swiss dates, German words), else the
    runbook's default."""
    return code if base_language(code) in LANGUAGES else fallback


def in_language(value: Any, language: str | None, fallback: str = "en") -> str:
    """The text for `language` (its base language too), else for `fallback`, else English,
    else the first one written. A plain string is the same in every language."""
    if not isinstance(value, dict):
        return value or ""
    for code in (language, base_language(language), fallback, base_language(fallback), "en"):
        if code and value.get(code):
            return value[code]
    return next((text for text in value.values() if text), "")


def clean_translatable(
    value: Any, check: Callable[[str], None] = lambda text: None
) -> Translatable:
    """A plain string, or a mapping of known language codes to non-empty strings, each
    passed to `check` (which raises ValueError, e.g. for an unknown placeholder). The
    mapping comes back in LANGUAGES order, so a file exports the same bytes whatever order
    it was written or stored in. ValueError says what is wrong."""
    if isinstance(value, str):
        check(value)
        return value
    if not isinstance(value, dict):
        return _refuse("must be text, or a mapping of language code to text")
    if not value:
        return _refuse(f"give the text in at least one language ({', '.join(LANGUAGES)})")
    for code in value:
        if code not in LANGUAGES:
            _refuse(f"unknown language {code!r}; known: {', '.join(LANGUAGES)}")
    cleaned = {}
    for code in LANGUAGES:
        if code not in value:
            continue
        text = value[code]
        if not isinstance(text, str) or not text.strip():
            _refuse(f"the {code} text must be non-empty text")
        try:
            check(text)
        except ValueError as error:
            raise ValueError(f"{code}: {error}") from None
        cleaned[code] = text
    return cleaned


def _refuse(message: str) -> Any:
    raise ValueError(message)
