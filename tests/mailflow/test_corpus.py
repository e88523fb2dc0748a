"""The hand-written mail corpus: every file classified, read and counted as expected.json
says, with the question's real options. No database: parsing is pure.

test_the_corpus_meets_the_bounce_and_reply_goals prints the rates the issue sets as
goals (run with -s to see them)."""

import json
import re
from pathlib import Path

import pytest

from mailflow.parsing import (
    BOUNCE,
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
    notices = [name for name, e in EXPECTED.items() if e["kind"] in ("bounce", "delay")]
    assert len(notices) >= 40


@pytest.mark.parametrize("name", FILES)
def test_the_corpus_file_is_classified_read_and_counted_as_expected(name):
    expected = EXPECTED[name]
    message = parse_message((CORPUS / name).read_bytes())

    classification = classify(message, our_domains=OUR_DOMAINS)

    assert classification.kind == expected["kind"], classification.reason
    if classification.kind == REPLY:
        reading = read_answer(message.text, OPTIONS)
        assert reading.key == expected["answer"], (reading.reason, reading.text)
        if "text" in expected:
            # The person's own words, without the quote, as the analyst sees them.
            assert reading.text == expected["text"]
    else:
        assert expected["answer"] is None
    assert len(message.attachments) == expected["attachments"]


def _outcome(name: str) -> tuple[str, str | None]:
    message = parse_message((CORPUS / name).read_bytes())
    kind = classify(message, our_domains=OUR_DOMAINS).kind
    answer = read_answer(message.text, OPTIONS).key if kind == REPLY else None
    return kind, answer


def test_the_corpus_meets_the_bounce_and_reply_goals():
    outcomes = {name: _outcome(name) for name in FILES}
    permanent = [name for name in FILES if EXPECTED[name]["kind"] == BOUNCE]
    others = [name for name in FILES if EXPECTED[name]["kind"] != BOUNCE]
    replies = [name for name in FILES if EXPECTED[name]["kind"] == REPLY]

    caught = [name for name in permanent if outcomes[name][0] == BOUNCE]
    false_bounces = [name for name in others if outcomes[name][0] == BOUNCE]
    misread = [name for name in replies if outcomes[name] != (REPLY, EXPECTED[name]["answer"])]
    rate = len(caught) / len(permanent)
    print(
        f"\nCorpus: {len(caught)} of {len(permanent)} permanent failures classified as bounce "
        f"({rate:.1%}); {len(false_bounces)} of {len(others)} delays and other mail "
        f"classified as bounce; {len(misread)} of {len(replies)} replies misread."
    )

    assert rate >= 0.97, sorted(set(permanent) - set(caught))
    assert false_bounces == []
    assert misread == []


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
