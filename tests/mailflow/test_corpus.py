"""The hand-written mail corpus: every file classified, read and counted as expected.json
says, with the question's real options. No database: parsing is pure."""

import json
import re
from pathlib import Path

import pytest

from mailflow.parsing import (
    REPLY,
    classify,
    original_message_ids,
    original_reply_tokens,
    parse_message,
    read_answer,
    reply_tokens,
)

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
OPTIONS = [
    {"key": "yes", "label": "Yes, I downloaded this file"},
    {"key": "no", "label": "No, I did not"},
]
OUR_DOMAINS = {"soc.example.com"}
REPLY_DOMAIN = "reply.soc.example.com"
FILES = sorted(path.name for path in CORPUS.glob("*.eml"))


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file():
    assert sorted(EXPECTED) == FILES
    assert len(FILES) >= 18


@pytest.mark.parametrize("name", FILES)
def test_the_corpus_file_is_classified_read_and_counted_as_expected(name):
    expected = EXPECTED[name]
    message = parse_message((CORPUS / name).read_bytes())

    classification = classify(message, our_domains=OUR_DOMAINS)

    assert classification.kind == expected["kind"], classification.reason
    if classification.kind == REPLY:
        reading = read_answer(message.text, OPTIONS)
        assert reading.key == expected["answer"], (reading.reason, reading.text)
    else:
        assert expected["answer"] is None
    assert len(message.attachments) == expected["attachments"]


@pytest.mark.parametrize("name", FILES)
def test_the_corpus_file_parses_into_text_that_is_safe_to_store(name):
    message = parse_message((CORPUS / name).read_bytes())

    for value in (message.subject, message.from_name, *message.to):
        assert not re.search(r"[\x00-\x1f\x7f]", value)
    assert "\x00" not in message.text
    for values in message.headers.values():
        assert all(len(value) <= 2_000 for value in values)


@pytest.mark.parametrize(
    "name",
    [name for name, expected in EXPECTED.items() if expected["kind"] == REPLY],
)
def test_every_reply_in_the_corpus_carries_its_reply_token(name):
    message = parse_message((CORPUS / name).read_bytes())

    assert reply_tokens(message, reply_domain=REPLY_DOMAIN) == ["mfrggzdfmztwq2lknnwg23tpobyxe43u"]


@pytest.mark.parametrize(
    ("name", "message_id", "token"),
    [
        (
            "postfix_bounce.eml",
            "<9a8b7c6d5e4f30211f2e3d4c5b6a7988@soc.example.com>",
            "mfrggzdfmztwq2lknnwg23tpobyxe43u",
        ),
        (
            "exchange_ndr.eml",
            "<1234abcd5678ef901234abcd5678ef90@soc.example.com>",
            "nbswy3dpeb3w64tmmqqgc3tbmvzsa3dp",
        ),
        (
            "qmail_failure_notice.eml",
            "<55555555555555555555555555555555@soc.example.com>",
            "mfrggzdfmztwq2lknnwg23tpobyxe43u",
        ),
    ],
)
def test_a_bounce_in_the_corpus_names_the_original_it_returns(name, message_id, token):
    message = parse_message((CORPUS / name).read_bytes())

    assert original_message_ids(message)[0] == message_id
    assert original_reply_tokens(message, reply_domain=REPLY_DOMAIN) == [token]


def test_the_read_receipt_in_the_corpus_names_the_question_it_was_for():
    message = parse_message((CORPUS / "read_receipt.eml").read_bytes())

    assert original_message_ids(message) == ["<3f2a9c41d0b7e5a6c8d9e0f1a2b3c4d5@soc.example.com>"]
