"""Texts a runbook author may write in several languages: a plain string, or a mapping
of language code to string, e.g. {"en": "Was this you?", "de": "Waren Sie das?"}."""

from typing import Any

# The languages the email and page templates ship in, and whose reply words the app reads.
LANGUAGES = ("en", "de", "fr", "es", "nl", "it")

Translatable = str | dict[str, str]


def base_language(code: str | None) -> str:
    """'de-CH' -> 'de'; empty -> ''."""
    return (code or "").split("-")[0].split("_")[0].lower()


def in_language(value: Any, language: str | None, fallback: str = "en") -> str:
    """The text for `language` (its base language too), else for `fallback`, else English,
    else the first one written. A plain string is the same in every language."""
    if not isinstance(value, dict):
        return value or ""
    for code in (language, base_language(language), fallback, base_language(fallback), "en"):
        if code and value.get(code):
            return value[code]
    return next((text for text in value.values() if text), "")
