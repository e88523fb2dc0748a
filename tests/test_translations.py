"""The catalogues under locale/: the committed .mo files are what their .po files compile
to (a fresh machine runs without gettext tools), and every message is translated."""

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale"
TRANSLATED = [code for code, _name in settings.LANGUAGES if code != "en"]


def entries(catalogue: polib.POFile | polib.MOFile) -> dict[tuple[str, str], object]:
    """What a catalogue translates: msgfmt leaves out the untranslated, fuzzy and obsolete
    entries of a .po file, and the header."""
    return {
        (entry.msgctxt or "", entry.msgid): entry.msgstr_plural or entry.msgstr
        for entry in catalogue
        if entry.msgid
        and (entry.msgstr or any(entry.msgstr_plural.values()))
        and "fuzzy" not in getattr(entry, "flags", [])
        and not getattr(entry, "obsolete", False)
    }


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_file_matches_its_po_file(language):
    folder = LOCALE / language / "LC_MESSAGES"
    po, mo = polib.pofile(str(folder / "django.po")), polib.mofile(str(folder / "django.mo"))

    assert entries(mo) == entries(po), (
        f"locale/{language}: run `uv run python manage.py compilemessages` and commit the .mo"
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))

    assert not [entry.msgid for entry in po.untranslated_entries()]
    assert not [entry.msgid for entry in po.fuzzy_entries()]
    assert po.metadata["Language"] == language


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_translation_keeps_the_placeholders_of_its_message(language):
    po = polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))

    for entry in po.translated_entries():
        for msgid, msgstr in _pairs(entry):
            assert sorted(_placeholders(msgstr)) == sorted(_placeholders(msgid)), entry.msgid


def _pairs(entry: polib.POEntry) -> list[tuple[str, str]]:
    if entry.msgid_plural:
        return [(entry.msgid_plural, text) for text in entry.msgstr_plural.values()]
    return [(entry.msgid, entry.msgstr)]


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\(\w+\)s|<[^>]+>", text)
