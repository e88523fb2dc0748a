"""Out-of-office replies in the shapes of Outlook (Exchange Online), an Exchange server,
Gmail's vacation responder and iCloud Mail's vacation reply, in the six reply languages:
each is an automatic reply, never an answer, and gives the return date and the sentence
that corpus/away/expected.json names. No database: parsing is pure."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from mailflow.parsing import AUTO_REPLY, classify, parse_message
from mailflow.parsing.away import read_return_date

AWAY = Path(__file__).parent / "corpus" / "away"
EXPECTED = json.loads((AWAY / "expected.json").read_text(encoding="utf-8"))
FILES = sorted(path.name for path in AWAY.glob("*.eml"))
SHAPES = ("outlook", "exchange", "gmail", "apple")
LANGUAGES = ("en", "de", "fr", "es", "nl", "it")


def test_every_shape_speaks_every_language_and_each_file_has_its_expectation():
    assert sorted(EXPECTED) == FILES
    for shape in SHAPES:
        for language in LANGUAGES:
            assert f"{shape}_{language}.eml" in FILES


@pytest.mark.parametrize("name", FILES)
def test_the_auto_reply_is_classified_and_its_return_date_read(name):
    expected = EXPECTED[name]
    message = parse_message((AWAY / name).read_bytes())

    classification = classify(message, our_domains={"soc.example.com"})
    reading = read_return_date(
        message.text,
        subject=message.subject,
        received=datetime.fromisoformat(expected["received"]),
    )

    assert classification.kind == AUTO_REPLY, classification.reason
    if expected["returns_on"] is None:
        assert reading is None
    else:
        assert reading is not None
        assert (reading.returns_on.isoformat(), reading.sentence) == (
            expected["returns_on"],
            expected["sentence"],
        )
