"""Inbound mail parsing, classification, correlation inputs and answer reading: pure
functions, no database. Each rule of RELIABILITY.md's "Inbound email" section that these
functions own has a test here; tests/mailflow/test_corpus.py runs whole realistic mails."""

import base64
import time
from datetime import UTC, datetime

import pytest

from mailflow import parsing
from mailflow.parsing import (
    AUTO_REPLY,
    BOUNCE,
    DELAY,
    LOOP,
    READ_RECEIPT,
    REPLY,
    UNRECOGNISED,
    address_matches,
    classify,
    html_to_text,
    original_message_ids,
    original_reply_tokens,
    parse_message,
    read_answer,
    referenced_message_ids,
    reply_tokens,
    strip_quoted,
    subject_incident_numbers,
)
from mailflow.parsing import answer as answer_module
from mailflow.parsing import message as message_module

OPTIONS = [
    {"key": "yes", "label": "Yes, I downloaded this file"},
    {"key": "no", "label": "No, I did not"},
]
OURS = {"soc.example.com"}
REPLY_DOMAIN = "reply.soc.example.com"
TOKEN = "mfrggzdfmztwq2lknnwg23tpobyxe43u"
OTHER_TOKEN = "nbswy3dpeb3w64tmmqqgc3tbmvzsa3dp"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR42mM4IScHRwzEcQCxYxBB00rMDQAAAABJRU5ErkJggg=="
)

HEADERS = (
    "From: Bob Builder <bob@corp.example.com>\n"
    f"To: SOC <reply+{TOKEN}@{REPLY_DOMAIN}>\n"
    "Subject: Re: [SIR0001234] Did you download this file?\n"
    "Date: Mon, 5 Jan 2026 10:00:00 +0100\n"
    "Message-ID: <Reply-1@Mail.Corp.Example.com>\n"
    "In-Reply-To: <3f2a@soc.example.com>\n"
    "References: <3f2a@soc.example.com>\n"
    "MIME-Version: 1.0\n"
)


def raw_mail(headers: str = HEADERS, body: str = "Yes\n", *, content_type: str | None = None):
    """A message as bytes with CRLF line ends; a text/plain UTF-8 body unless told.
    With content_type="" the body brings its own Content-Type header."""
    if content_type is None:
        content_type = "Content-Type: text/plain; charset=utf-8\n"
    text = headers + content_type + ("\n" if content_type else "") + body
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8", "surrogateescape")


def parsed(headers: str = HEADERS, body: str = "Yes\n", **kwargs):
    return parse_message(raw_mail(headers, body, **kwargs))


def with_header(line: str, headers: str = HEADERS) -> str:
    return headers + line + "\n"


def replacing(name: str, line: str | None, headers: str = HEADERS) -> str:
    kept = [h for h in headers.splitlines() if not h.lower().startswith(name.lower() + ":")]
    return "\n".join(kept + ([line] if line else [])) + "\n"


# parse_message: headers


def test_it_reads_the_fields_of_a_plain_reply():
    message = parsed(
        with_header("Cc: Carol <Carol@Corp.Example.com>, dave@corp.example.com")
        + "Reply-To: Bob <bob.private@example.net>\n"
    )

    assert message.message_id == "<reply-1@mail.corp.example.com>"
    assert message.in_reply_to == "<3f2a@soc.example.com>"
    assert message.references == ["<3f2a@soc.example.com>"]
    assert message.subject == "Re: [SIR0001234] Did you download this file?"
    assert (message.from_name, message.from_address) == ("Bob Builder", "bob@corp.example.com")
    assert message.to == [f"reply+{TOKEN}@{REPLY_DOMAIN}"]
    assert message.cc == ["carol@corp.example.com", "dave@corp.example.com"]
    assert message.reply_to == ["bob.private@example.net"]
    assert message.date == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert message.text == "Yes"
    assert message.html == ""
    assert message.attachments == []
    assert message.problems == []


def test_its_header_accessor_ignores_the_case_of_the_name():
    message = parsed(with_header("X-Custom-Thing: One") + "x-custom-thing: Two\n")

    assert message.header("X-CUSTOM-THING") == "One"
    assert message.header_values("x-custom-thing") == ["One", "Two"]
    assert message.header("X-Absent") is None


def test_it_normalises_message_ids_with_spaces_or_without_angle_brackets():
    spaced = parsed(replacing("Message-ID", "Message-ID:   < AbC@Host.Example >  "))
    bare = parsed(replacing("Message-ID", "Message-ID: AbC@Host.Example"))

    assert spaced.message_id == "<abc@host.example>"
    assert bare.message_id == "<abc@host.example>"


def test_a_missing_message_id_is_none_and_noted():
    message = parsed(replacing("Message-ID", None))

    assert message.message_id is None
    assert "no usable Message-ID" in message.problems


def test_references_keep_their_order_and_lose_repeats():
    headers = replacing("References", "References: <A@x.example>\n <b@x.example> <a@x.example>")

    assert parsed(headers).references == ["<a@x.example>", "<b@x.example>"]


def test_it_decodes_encoded_words_in_the_subject_and_display_name():
    headers = replacing("Subject", "Subject: =?utf-8?Q?AW=3A_T=C3=A4st?= =?utf-8?B?IGfDvGx0aWc=?=")
    headers = replacing("From", "From: =?iso-8859-1?Q?J=FCrgen?= <j@corp.example.com>", headers)

    message = parsed(headers)

    assert message.subject == "AW: Täst gültig"
    assert message.from_name == "Jürgen"


def test_a_broken_encoded_word_is_kept_as_written():
    message = parsed(replacing("Subject", "Subject: Re: =?utf-8?B?broken!!?= =?utf-8?Q?ok?="))

    assert message.subject == "Re: =?utf-8?B?broken!!?= ok"


def test_an_encoded_word_in_an_unknown_charset_is_read_as_utf8():
    message = parsed(replacing("Subject", "Subject: =?x-no-such-charset?Q?Gr=C3=BC=C3=9Fe?="))

    assert message.subject == "Grüße"


def test_raw_eight_bit_headers_are_read_as_utf8_or_else_latin1():
    utf8 = parsed(replacing("Subject", "Subject: Grüße"))
    latin1 = parse_message(
        raw_mail(replacing("Subject", "Subject: Gr\udcfc\udcdfe aus M\udcfcnchen"))
    )

    assert utf8.subject == "Grüße"
    assert latin1.subject == "Grüße aus München"


def test_control_and_direction_characters_are_removed_from_the_subject():
    headers = replacing(
        "Subject", "Subject: =?utf-8?Q?Re=3A_a=0D=0AX-Injected=3A_1_=E2=80=AEexe.txt?="
    )

    message = parsed(headers)

    assert message.subject == "Re: a X-Injected: 1 exe.txt"


def test_huge_header_values_are_truncated_and_noted():
    message = parsed(replacing("Subject", "Subject: " + "A" * 100_000))

    assert len(message.subject) == 2_000
    assert message.header("subject") == "A" * 2_000
    assert "header subject truncated" in message.problems


@pytest.mark.parametrize(
    "from_header",
    [
        "From: bob@corp.example.com, mallory@example.net",
        "From: Bob <bob@corp.example.com>, Mallory <mallory@example.net>",
        "From: not an address at all",
        "From: <>",
        "From: bob@corp.example.com <mallory@example.net",
        'From: "Bob" <"bob smith"@corp.example.com>',
        "From: Bob <bob@[192.0.2.1]>",
        "From: =?utf-8?Q?bob=40corp=2Eexample=2Ecom=2C?= <mallory@example.net>, x@example.net",
    ],
)
def test_a_from_header_that_is_not_exactly_one_plain_address_gives_no_address(from_header):
    message = parsed(replacing("From", from_header))

    assert message.from_address is None
    assert "From is not exactly one plain address" in message.problems


def test_an_empty_recipient_group_is_no_recipient_and_no_problem():
    message = parsed(replacing("To", "To: undisclosed-recipients:;"))

    assert message.to == []
    assert message.problems == []


def test_two_from_headers_give_no_address():
    message = parsed(with_header("From: Mallory <mallory@example.net>"))

    assert message.from_address is None


def test_a_display_name_that_looks_like_an_address_is_only_a_name():
    message = parsed(replacing("From", 'From: "bob@corp.example.com" <evil@example.net>'))

    assert message.from_address == "evil@example.net"
    assert message.from_name == "bob@corp.example.com"


def test_an_encoded_display_name_cannot_smuggle_in_a_second_address():
    header = "From: =?utf-8?Q?bob=40corp=2Eexample=2Ecom?= <evil@example.net>"

    message = parsed(replacing("From", header))

    assert message.from_address == "evil@example.net"
    assert message.from_name == "bob@corp.example.com"


def test_addresses_are_lower_cased():
    message = parsed(replacing("From", "From: Bob <Bob.Builder@CORP.Example.com>"))

    assert message.from_address == "bob.builder@corp.example.com"


def test_a_date_in_the_future_is_ignored_and_noted():
    message = parsed(replacing("Date", "Date: Mon, 5 Jan 2099 10:00:00 +0100"))

    assert message.date is None
    assert "Date in the future ignored" in message.problems


def test_a_date_a_few_hours_ahead_is_believed():
    now = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)

    message = parse_message(raw_mail(), now=now)

    assert message.date == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "Mon, 45 Foo 2026 99:99:99", ""])
def test_an_unparsable_date_is_none(value):
    message = parsed(replacing("Date", f"Date: {value}"))

    assert message.date is None


def test_a_date_without_a_zone_is_taken_as_utc():
    message = parsed(replacing("Date", "Date: Mon, 5 Jan 2026 10:00:00 -0000"))

    assert message.date == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


# parse_message: bodies and attachments


ALTERNATIVE = (
    "Content-Type: multipart/alternative; boundary=alt\n\n"
    "--alt\nContent-Type: text/plain; charset=utf-8\n\n{plain}\n"
    "--alt\nContent-Type: text/html; charset=utf-8\n\n{html}\n"
    "--alt--\n"
)


def test_the_plain_part_is_the_text_when_there_is_one():
    body = ALTERNATIVE.format(plain="No", html="<p>Yes</p>")

    message = parsed(body=body, content_type="")

    assert message.text == "No"
    assert message.html.strip() == "<p>Yes</p>"


def test_an_html_only_message_gets_its_text_from_the_html():
    message = parsed(
        body="<p>Yes&nbsp;it&#39;s me</p><script>no()</script>",
        content_type="Content-Type: text/html; charset=utf-8\n",
    )

    assert message.text == "Yes it's me"


def test_an_empty_plain_part_gives_way_to_the_html():
    message = parsed(body=ALTERNATIVE.format(plain="", html="<div>No</div>"), content_type="")

    assert message.text == "No"


def test_a_body_in_an_unknown_charset_is_read_as_utf8():
    message = parsed(
        body="Nein, Grüße", content_type="Content-Type: text/plain; charset=x-unheard-of\n"
    )

    assert message.text == "Nein, Grüße"


def test_a_body_of_legacy_bytes_labelled_utf8_is_read_as_latin1():
    body = "Nein, Gr\udcfc\udcdfe aus M\udcfcnchen, \udce0 bient\udcf4t"

    message = parse_message(raw_mail(body=body))

    assert message.text == "Nein, Grüße aus München, à bientôt"


def test_a_utf8_body_with_one_broken_byte_stays_utf8():
    body = "Grüße aus München und Köln \udcff und Düsseldorf. " + "Viele Grüße. " * 20

    message = parse_message(raw_mail(body=body))

    assert message.text.startswith("Grüße aus München und Köln \ufffd und Düsseldorf")


@pytest.mark.parametrize("charset", ["rot13", "base64", "unknown-8bit", "utf-8\x00"])
def test_a_charset_that_is_no_text_encoding_is_not_used(charset):
    message = parsed(body="yes", content_type=f'Content-Type: text/plain; charset="{charset}"\n')

    assert message.text == "yes"


def test_valid_utf8_wins_over_a_wrongly_declared_legacy_charset():
    # These bytes also decode as Big5, into nonsense: "S穩, lo descargu矇".
    message = parsed(
        body="Sí, lo descargué", content_type="Content-Type: text/plain; charset=big5\n"
    )

    assert message.text == "Sí, lo descargué"


def test_a_declared_legacy_charset_still_reads_bytes_that_are_not_utf8():
    body = "Nein, Gr\udcfc\udcdfe"  # Latin-1 bytes: not valid UTF-8

    message = parse_message(
        raw_mail(body=body, content_type="Content-Type: text/plain; charset=iso-8859-1\n")
    )

    assert message.text == "Nein, Grüße"


def test_a_utf16_body_is_read_as_declared_although_its_bytes_are_valid_utf8():
    body = (
        "\n".join(
            ["Content-Type: text/plain; charset=utf-16-le", "Content-Transfer-Encoding: base64", ""]
        )
        + "\n"
        + base64.b64encode("Yes é".encode("utf-16-le")).decode()
        + "\n"
    )

    message = parsed(body=body, content_type="")

    assert message.text == "Yes é"


def test_nul_and_control_characters_are_removed_from_the_body():
    message = parsed(body="ye\x00s\x1b[31m\r\nline two\x7f")

    assert message.text == "yes[31m\nline two"


def mixed(*parts: str) -> str:
    return (
        "Content-Type: multipart/mixed; boundary=mix\n\n"
        + "".join(f"--mix\n{part}\n" for part in parts)
        + "--mix--\n"
    )


def png_part(disposition: str = "attachment", content_id: str | None = None) -> str:
    lines = [
        'Content-Type: image/png; name="shot.png"',
        f'Content-Disposition: {disposition}; filename="shot.png"',
        "Content-Transfer-Encoding: base64",
    ]
    if content_id:
        lines.append(f"Content-ID: <{content_id}>")
    return "\n".join(lines) + "\n\n" + base64.encodebytes(PNG).decode()


def test_attachments_are_listed_with_name_type_content_and_size():
    body = mixed("Content-Type: text/plain\n\nYes, see the screenshot", png_part())

    message = parsed(body=body, content_type="")

    assert message.text == "Yes, see the screenshot"
    (attachment,) = message.attachments
    assert attachment.filename == "shot.png"
    assert attachment.content_type == "image/png"
    assert attachment.content == PNG
    assert attachment.size == len(PNG)
    assert attachment.inline is False


def test_an_inline_image_keeps_its_content_id():
    body = mixed("Content-Type: text/plain\n\nYes", png_part("inline", "image001.png@01DC"))

    (attachment,) = parsed(body=body, content_type="").attachments

    assert attachment.inline is True
    assert attachment.content_id == "image001.png@01DC"


@pytest.mark.parametrize(
    "disposition, content_id",
    [("inline", None), ("inline", ""), ("attachment", "image001.png@01DC")],
    ids=["inline without Content-ID (Apple Mail)", "empty Content-ID", "attachment with one"],
)
def test_only_an_image_embedded_by_content_id_is_inline(disposition, content_id):
    header = "" if content_id is None else f"Content-ID: <{content_id}>\n"
    part = png_part(disposition).replace(
        "Content-Transfer-Encoding", f"{header}Content-Transfer-Encoding"
    )
    body = mixed("Content-Type: text/plain\n\nYes", part)

    (attachment,) = parsed(body=body, content_type="").attachments

    assert attachment.inline is False


def test_a_text_file_attached_is_an_attachment_not_the_body():
    attached = 'Content-Type: text/plain\nContent-Disposition: attachment; filename="log.txt"\n\nno'
    body = mixed("Content-Type: text/plain\n\nyes", attached)

    message = parsed(body=body, content_type="")

    assert message.text == "yes"
    assert [a.filename for a in message.attachments] == ["log.txt"]


def test_a_hostile_filename_loses_its_control_and_direction_characters():
    attached = (
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*=utf-8''%E2%80%AEgpj.exe%00%0A\n\nx"
    )

    (attachment,) = parsed(
        body=mixed("Content-Type: text/plain\n\nyes", attached), content_type=""
    ).attachments

    assert attachment.filename == "gpj.exe"


def test_a_forwarded_message_is_an_attachment_and_its_text_is_not_the_body():
    forwarded = (
        "Content-Type: message/rfc822\n\n"
        "From: SOC <soc@soc.example.com>\nSubject: question\n\nYes, I downloaded this file"
    )

    message = parsed(body=mixed("Content-Type: text/plain\n\nno", forwarded), content_type="")

    assert message.text == "no"
    assert message.attachments[0].content_type == "message/rfc822"
    assert b"Yes, I downloaded this file" in message.attachments[0].content


def nested(depth: int) -> str:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    closing = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    return opening + "Content-Type: text/plain\n\ndeep text\n" + closing


def test_mime_nesting_is_read_down_to_the_limit():
    message = parsed(body=nested(15), content_type="")

    assert message.text == "deep text"


def test_deeper_mime_nesting_is_not_read_and_noted():
    message = parsed(body=nested(40), content_type="")

    assert message.text == ""
    assert "MIME nesting deeper than 20: not read" in message.problems


def test_nesting_too_deep_for_the_parser_leaves_the_headers():
    started = time.monotonic()

    message = parsed(body=nested(5_000), content_type="")

    assert time.monotonic() - started < 10
    assert message.from_address == "bob@corp.example.com"
    assert message.text == ""


def test_thousands_of_parts_are_cut_at_the_limit_in_bounded_time():
    parts = ["Content-Type: text/plain\n\nyes"] + [
        'Content-Type: application/octet-stream\nContent-Disposition: attachment; filename="p"\n\nx'
    ] * 20_000
    started = time.monotonic()

    message = parsed(body=mixed(*parts), content_type="")

    assert time.monotonic() - started < 10
    assert message.text == "yes"
    assert len(message.attachments) < 500
    assert "more than 500 MIME parts: the rest ignored" in message.problems


def test_a_text_body_over_one_megabyte_is_cut():
    message = parsed(body="yes\n" + "lorem ipsum " * 200_000)

    assert message.text.startswith("yes\nlorem ipsum")
    assert len(message.text) <= 1024 * 1024
    assert "text/plain body cut at 1048576 bytes" in message.problems


def test_an_attachment_over_the_size_limit_is_listed_without_its_content(monkeypatch):
    monkeypatch.setattr(message_module, "MAX_PART_BYTES", 1_000)
    big = (
        'Content-Type: application/zip\nContent-Disposition: attachment; filename="big.zip"\n'
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(b"z" * 10_000).decode()
    )

    message = parsed(body=mixed("Content-Type: text/plain\n\nyes", big), content_type="")

    (attachment,) = message.attachments
    assert attachment.content == b""
    assert attachment.size >= 7_000
    assert "part big.zip too large: not decoded" in message.problems


def test_a_message_over_the_size_limit_is_read_for_its_headers_only(monkeypatch):
    monkeypatch.setattr(message_module, "MAX_MESSAGE_BYTES", 100)

    message = parsed(body="yes " * 100)

    assert message.from_address == "bob@corp.example.com"
    assert message.text == ""
    assert any("headers only" in problem for problem in message.problems)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 5000,
        b"From: a@example.com\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
        b"From: a@example.com\r\nContent-Transfer-Encoding: base64\r\n\r\n!!not base64@@",
        b"From: a@example.com\r\nContent-Type: text/plain; charset*=utf-8''%ff%fe\r\n\r\nhi",
        b"Subject: =?utf-8?B?=?=\r\nFrom: =?utf-8?Q?=?= <\r\n\r\n",
    ],
)
def test_malformed_mail_never_raises(raw):
    message = parse_message(raw)

    assert isinstance(message.text, str)


def test_raw_mail_handed_over_as_text_is_parsed_too():
    message = parse_message(raw_mail().decode())

    assert message.from_address == "bob@corp.example.com"
    assert message.text == "Yes"


def test_a_delivery_report_is_recognised_with_its_actions():
    body = (
        'Content-Type: multipart/report; report-type="delivery-status"; boundary=r\n\n'
        "--r\nContent-Type: text/plain\n\nCould not deliver.\n"
        "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"
        "--r--\n"
    )

    message = parsed(body=body, content_type="")

    assert message.is_multipart_report is True
    assert message.report_type == "delivery-status"
    assert message.delivery_actions == ["failed"]
    assert message.text == "Could not deliver."


# html_to_text


def test_html_to_text_drops_scripts_styles_and_hidden_markup():
    html = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<script>document.write('no')</script><p>yes</p><svg><text>no</text></svg>"
        "<noscript>no</noscript></body></html>"
    )

    assert html_to_text(html) == "yes"


def test_html_to_text_puts_blocks_on_lines_and_unescapes_entities():
    html = "<div>One &amp; two</div><p>three<br>four</p><ul><li>a</li><li>b</li></ul>&eacute;"

    assert html_to_text(html) == "One & two\nthree\nfour\n- a\n- b\né"


def test_html_to_text_marks_blockquotes_as_quoted():
    html = "<div>No</div><blockquote>Yes, I did<blockquote>x</blockquote></blockquote>"

    assert html_to_text(html) == "No\n> Yes, I did\n> > x"


@pytest.mark.parametrize(
    "html",
    [
        # Spark
        '<div name="messageBodySection">No</div><div name="messageReplySection">Em 5 de jan., '
        "X escreveu:<br><div>Yes, I downloaded this file</div><div>No, I did not</div></div>",
        # Yahoo, with its prefixed id and class
        '<div>No</div><div id="ydp1a2byahoo_quoted_123" class="ydp1a2byahoo_quoted"><div>'
        "Em segunda-feira, X escreveu:</div><div>Yes, I downloaded this file</div></div>",
        '<div>No</div><div class="yahoo_quoted"><div>Yes, I downloaded this file</div></div>',
    ],
)
def test_html_to_text_marks_spark_and_yahoo_quotes_as_quoted(html):
    text = html_to_text(html)

    assert text.split("\n")[0] == "No"
    assert all(line.startswith("> ") for line in text.split("\n")[1:])


@pytest.mark.parametrize(
    "marker", ['<div id="divRplyFwdMsg" dir="ltr">', '<div class="OutlookMessageHeader">']
)
def test_html_to_text_quotes_everything_from_outlooks_header_block_on(marker):
    html = (
        f"<div>No</div><hr>{marker}<b>Från:</b> X<br><b>Skickat:</b> y</div>"
        "<p>Yes, I downloaded this file</p><p>No, I did not</p>"
    )

    assert html_to_text(html) == (
        "No\n> Från: X\n> Skickat: y\n> Yes, I downloaded this file\n> No, I did not"
    )


def test_html_to_text_quotes_thunderbirds_cite_prefix_and_keeps_a_bottom_posted_answer():
    html = (
        '<div class="moz-cite-prefix">Den 2026-01-05 kl. 09:58, skrev X:<br></div>'
        '<blockquote type="cite"><p>Yes, I downloaded this file</p></blockquote><p>No</p>'
    )

    text = html_to_text(html)

    assert text == "> Den 2026-01-05 kl. 09:58, skrev X:\n> Yes, I downloaded this file\nNo"
    assert read_answer(text, OPTIONS).key == "no"


def test_html_to_text_keeps_link_text_but_never_urls_or_images():
    html = (
        '<a href="javascript:alert(1)">click</a> <img src="https://tracker.example.net/p.gif" '
        'onerror="alert(1)"><meta http-equiv="refresh" content="0;url=https://x.example.net">'
    )

    text = html_to_text(html)

    assert text == "click"


def test_html_to_text_keeps_preformatted_line_breaks():
    assert html_to_text("<pre>a\n  b</pre>") == "a\nb"


@pytest.mark.parametrize(
    "html", ["<div", "<![CDATA[x", "<!--", "</p></div>", "<script>yes", "<p>" * 10_000]
)
def test_html_to_text_survives_broken_markup(html):
    assert isinstance(html_to_text(html), str)


# classify


def kind(headers: str = HEADERS, body: str = "Yes\n", **kwargs) -> str:
    return classify(parsed(headers, body, **kwargs), our_domains=OURS).kind


def test_a_normal_reply_is_a_reply():
    assert kind() == REPLY


def test_a_reply_that_only_suppresses_auto_responses_is_a_reply():
    assert kind(with_header("X-Auto-Response-Suppress: DR, RN, NRN, OOF, AutoReply")) == REPLY


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Auto-Submitted: Auto-Replied; owner-email=bob@corp.example.com",
        "Auto-Submitted: auto-notified",
        "X-Autoreply: yes",
        "X-Autorespond: Vacation",
        "X-Autoresponse: 1",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: List",
        "Precedence: auto_reply",
        "X-MS-Exchange-Inbox-Rules-Loop: bob@corp.example.com",
        "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
        "Return-Path: <>",
    ],
)
def test_an_automatic_header_makes_an_auto_reply(header):
    assert kind(with_header(header)) == AUTO_REPLY


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "X-MS-Exchange-Generated-Message-Source: Transport Rule Agent",
        "Return-Path: <bob@corp.example.com>",
    ],
)
def test_a_harmless_value_of_those_headers_keeps_a_reply(header):
    assert kind(with_header(header)) == REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: [SIR0001234] Did you download this file?",
        "Automatic reply: [SIR0001234] Did you download this file?",
        "Auto-Reply: away",
        "Autoreply",
        "AUTO REPLY",
        "Away from my desk",
        "Re: Out of office",
        "[EXTERNAL] Automatic reply: Did you download",
        "Abwesenheitsnotiz: [SIR0001234]",
        "AW: Automatische Antwort: Haben Sie",
        "Abwesend bis Montag",
        "Réponse automatique : [SIR0001234]",
        "Absence du bureau",
        "Absent",
        "Respuesta automática: [SIR0001234]",
        "Fuera de la oficina",
        "Automatisch antwoord: [SIR0001234]",
        "Afwezig",
        "Risposta automatica: [SIR0001234]",
        "Fuori ufficio",
    ],
)
def test_an_out_of_office_subject_makes_an_auto_reply(subject):
    assert kind(replacing("Subject", f"Subject: {subject}")) == AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    ["Re: [SIR0001234] my out of office was on", "Re: Question about the absence", "Absently"],
)
def test_out_of_office_words_later_in_a_subject_keep_a_reply(subject):
    assert kind(replacing("Subject", f"Subject: {subject}")) == REPLY


def report(report_type: str, inner: str) -> str:
    return (
        f"Content-Type: multipart/report; report-type={report_type}; boundary=r\n\n"
        f"--r\nContent-Type: text/plain\n\nReport.\n--r\n{inner}\n--r--\n"
    )


FAILED = report(
    "delivery-status",
    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
    "Final-Recipient: rfc822; a@example.org\nAction: failed\n",
)


def test_a_delivery_status_report_is_a_bounce():
    assert kind(body=FAILED, content_type="") == BOUNCE


def test_a_bounce_wins_over_its_auto_reply_headers():
    headers = with_header("Auto-Submitted: auto-replied") + "Return-Path: <>\n"

    assert kind(headers, body=FAILED, content_type="") == BOUNCE


def test_a_report_that_delivery_is_only_delayed_is_a_delay():
    delayed = report(
        "delivery-status",
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; a@example.org\nAction: delayed\n",
    )

    assert kind(body=delayed, content_type="") == DELAY


@pytest.mark.parametrize(
    "from_header",
    [
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.example.com>",
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)",
        "From: postmaster@corp.example.com",
        "From: MAILER-DAEMON",
    ],
)
def test_mail_from_a_mailer_daemon_or_postmaster_is_a_bounce(from_header):
    assert kind(replacing("From", from_header)) == BOUNCE


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Undeliverable: [SIR0001234] Did you download this file?",
        "Mail delivery failed: returning message to sender",
        "failure notice",
        "Unzustellbar: [SIR0001234]",
        "Non remis : [SIR0001234]",
    ],
)
def test_a_bounce_subject_makes_a_bounce(subject):
    assert kind(replacing("Subject", f"Subject: {subject}")) == BOUNCE


SERVER_SENDERS = [
    "From: MDaemon@mail.example.org",
    'From: "MDaemon at mail.example.org" <MDaemon@mail.example.org>',
    'From: "InterScan MSS for SMTP" <interscan@imss.example.org>',
    "From: Trend Micro Email Security <noreply@tmes.example.org>",
    "From: Mail Delivery System <delivery@mx.example.org>",
    'From: "Mail Delivery Subsystem" <>',
    'From: "GroupWise Internet Agent" <>',
]


@pytest.mark.parametrize("from_header", SERVER_SENDERS)
def test_mail_from_a_mail_server_is_a_bounce(from_header):
    body = "Your message could not be delivered.\n"

    assert kind(replacing("From", from_header), body=body) == BOUNCE


def test_a_mailer_daemon_return_path_makes_a_bounce():
    headers = with_header("Return-Path: <MAILER-DAEMON@mx.example.org>")

    assert kind(headers, body="Delivery to bob@corp.example.com failed.\n") == BOUNCE


def test_a_null_return_path_and_failure_words_make_a_bounce():
    headers = replacing("Subject", "Subject: Notice", with_header("Return-Path: <>"))

    assert kind(headers, body="550 5.1.1 User unknown: the message was not delivered\n") == BOUNCE


@pytest.mark.parametrize("precedence", ["bulk", "junk"])
def test_precedence_on_a_bounce_keeps_it_a_bounce(precedence):
    headers = replacing(
        "From", "From: Mail Delivery System <delivery@mx.example.org>",
        with_header(f"Precedence: {precedence}"),
    )  # fmt: skip

    assert kind(headers, body="550 5.1.1 User unknown\n") == BOUNCE


@pytest.mark.parametrize(
    "subject",
    [
        "Permanent Delivery Failure",
        "Mail could not be delivered",
        "Non-Delivery: [SIR0001234] Did you download this file?",
        "Mail Error",
        "Delivery status notification",
        "RE: Undeliverable: [SIR0001234]",
        "AW: Unzustellbar: [SIR0001234]",
        "[EXTERNAL] Message status - undeliverable",
    ],
)
def test_a_failure_subject_after_prefixes_makes_a_bounce(subject):
    assert kind(replacing("Subject", f"Subject: {subject}")) == BOUNCE


def test_failure_words_late_in_the_subject_make_a_bounce_with_failure_words_in_the_body():
    subject = (
        "Subject: [SIR0001234] Avez-vous téléchargé ce fichier ? - non remis (delivery failed)"
    )
    body = "Votre message n'a pas pu être remis à bob@corp.example.com.\n"

    assert kind(replacing("Subject", subject), body=body) == BOUNCE


def test_a_reply_to_a_question_whose_subject_has_failure_words_stays_a_reply():
    # Our question's own subject may name bounces; the person's reply quotes it.
    subject = "Subject: Re: [SIR0001234] Undelivered mail notices in your inbox"

    assert kind(replacing("Subject", subject), body="No\n") == REPLY


@pytest.mark.parametrize(
    "name", ["Jane Doe (System Administrator)", "Postmaster Team Lead", "Trend Micro Fan"]
)
def test_a_person_whose_name_sounds_like_a_mail_server_is_still_a_reply(name):
    headers = replacing("From", f'From: "{name}" <jane@corp.example.com>')

    assert kind(headers, body="Yes\n") == REPLY


def test_a_reply_quoting_a_question_about_failed_deliveries_stays_a_reply():
    # Outlook quotes the question's headers and text below the person's own words.
    subject = "Subject: Re: [SIR0001234] Undeliverable notices you reported"
    body = (
        "No\n\n-----Original Message-----\nFrom: SOC <soc@example.org>\n"
        "Subject: [SIR0001234] Undeliverable notices you reported\n\n"
        "You said a message could not be delivered and was returned to the sender.\n"
    )

    assert kind(replacing("Subject", subject), body=body) == REPLY


@pytest.mark.parametrize(
    "words",
    [
        "Der Server wird es nicht erneut versuchen.",
        "No se volverá a intentar la entrega.",
        "Il messaggio non verrà ritentato.",
    ],
)
def test_a_notice_that_will_not_retry_is_a_permanent_failure(words):
    headers = replacing("From", "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>")

    assert kind(headers, body=f"{words}\n") == BOUNCE


def dsn(inner: str, report_type: str = "; report-type=delivery-status") -> str:
    return (
        f"Content-Type: multipart/report{report_type}; boundary=r\n\n"
        "--r\nContent-Type: text/plain\n\nReport.\n"
        f"--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        f"Final-Recipient: rfc822; a@example.org\n{inner}\n--r--\n"
    )


@pytest.mark.parametrize(
    "inner",
    ["Action: failure\n", "Action: error\nStatus: 5.1.1\n", "Action: x-rejected\nStatus: 553\n"],
)
def test_non_standard_actions_and_numeric_statuses_are_failures(inner):
    assert kind(body=dsn(inner), content_type="") == BOUNCE


def test_a_report_without_report_type_is_read_by_its_delivery_status_part():
    message = parsed(body=dsn("Action: delayed\nStatus: 4.4.1\n", report_type=""), content_type="")

    assert message.report_type == "delivery-status"
    assert message.delivery_statuses == ["4.4.1"]
    assert classify(message, our_domains=OURS).kind == DELAY


def test_a_report_that_only_relayed_is_no_bounce_and_no_delay():
    assert kind(body=dsn("Action: relayed\nStatus: 2.0.0\n"), content_type="") == AUTO_REPLY


def test_a_rejection_sent_as_a_disposition_notification_is_a_bounce():
    headers = (
        replacing("Subject", "Subject: Automatically rejected mail")
        + "Return-Path: <MAILER-DAEMON@mx.example.org>\n"
        + "Auto-Submitted: auto-replied (rejected)\n"
    )
    body = report(
        "disposition-notification",
        "Content-Type: message/disposition-notification\n\n"
        "Final-Recipient: rfc822; bob@corp.example.com\n"
        "Disposition: automatic-action/MDN-sent-automatically; deleted\n",
    )

    assert kind(headers, body=body, content_type="") == BOUNCE


DAEMON = "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>"


@pytest.mark.parametrize(
    "body",
    [
        "Action: delayed\nStatus: 4.4.7\n",
        "Remote server said: 451 4.7.1 Greylisted, try again later\n",
        "Your message will be retried for 5 days.\n",
        "Your message has not yet been delivered to bob@corp.example.com.\n",
        "Your message to Team awaits moderator approval.\n",
        "452 4.2.2 Mailbox full. Delivery attempts will continue; the server will retry.\n",
        "Delivery incomplete. Gmail will retry for 46 more hours. You'll be notified if the "
        "delivery fails permanently.\n",
    ],
)
def test_a_delay_or_hold_outside_a_report_is_a_delay(body):
    headers = replacing(
        "Subject", "Subject: Delivery Status Notification", replacing("From", DAEMON)
    )

    assert kind(headers, body=body) == DELAY


@pytest.mark.parametrize(
    "body",
    [
        "Your message could not be delivered to one or more recipients.",  # en
        "Ihre Nachricht konnte nicht zugestellt werden.",  # de
        "Votre message n'a pas pu être remis aux destinataires suivants.",  # fr
        "No se pudo entregar el mensaje a los destinatarios.",  # es
        "Uw bericht kan niet worden bezorgd.",  # nl
        "Impossibile recapitare il messaggio.",  # it
    ],
)
def test_failure_words_in_the_six_languages_with_a_null_return_path_make_a_bounce(body):
    headers = (
        replacing(
            "Subject",
            "Subject: Notification",
            with_header("Return-Path: <>", replacing("From", None)),
        )
        + 'From: "Postfach" <>\n'
    )

    assert kind(headers, body=body + "\n") == BOUNCE


@pytest.mark.parametrize(
    "body",
    [
        "Your message has not yet been delivered. Delivery will be retried.",  # en
        "Ihre Nachricht wurde noch nicht zugestellt. Es wird weiterhin versucht.",  # de
        "Votre message n'a pas encore été remis. Une nouvelle tentative aura lieu.",  # fr
        "Su mensaje aún no se ha entregado. Se volverá a intentar.",  # es
        "Uw bericht is nog niet bezorgd; er wordt opnieuw geprobeerd.",  # nl
        "Il messaggio non è ancora stato recapitato. Nuovo tentativo tra un'ora.",  # it
    ],
)
def test_delay_words_in_the_six_languages_make_a_delay(body):
    assert kind(replacing("From", DAEMON), body=body + "\n") == DELAY


def test_a_hostile_notice_is_classified_in_bounded_time():
    subject = "Subject: " + "Re: [x] AW:" * 150 + "warning: " * 50
    body = ("Action: x\n" + "will not " * 50 + "550 " * 200 + "\n") * 3_000
    message = parsed(replacing("Subject", subject, replacing("From", DAEMON)), body=body)
    started = time.monotonic()

    classify(message, our_domains=OURS)

    assert time.monotonic() - started < 1


def test_a_persons_reply_that_mentions_a_failed_delivery_stays_a_reply():
    body = "No. It could not be delivered to my laptop anyway, error 550.\n"

    assert kind(body=body) == REPLY


def test_a_disposition_notification_is_a_read_receipt():
    body = report(
        "disposition-notification",
        "Content-Type: message/disposition-notification\n\n"
        "Final-Recipient: rfc822; bob@corp.example.com\nDisposition: automatic-action/"
        "MDN-sent-automatically; displayed\nOriginal-Message-ID: <3f2a@soc.example.com>\n",
    )

    message = parsed(body=body, content_type="")

    assert classify(message, our_domains=OURS).kind == READ_RECEIPT
    assert original_message_ids(message) == ["<3f2a@soc.example.com>"]


@pytest.mark.parametrize("subject", ["Read: [SIR0001234]", "Gelesen: [SIR0001234]", "Lu : x"])
def test_a_read_subject_makes_a_read_receipt(subject):
    assert kind(replacing("Subject", f"Subject: {subject}")) == READ_RECEIPT


OUR_OWN = (
    "From: Security Operations <soc@soc.example.com>\n"
    f"To: reply+{TOKEN}@{REPLY_DOMAIN}\n"
    "Subject: [SIR0001234] Did you download this file?\n"
    "Message-ID: <ab12@mail.corp.example.com>\n"
    "Auto-Submitted: auto-generated\n"
    "X-Auto-Response-Suppress: OOF, AutoReply\n"
)


def test_our_own_question_coming_back_is_a_loop():
    assert kind(OUR_OWN) == LOOP


OUR_ID = "3f2a9c41d0b7e5a6c8d9e0f1a2b3c4d5"


def test_a_message_id_of_ours_on_our_domain_is_a_loop():
    assert kind(replacing("Message-ID", f"Message-ID: <{OUR_ID}@SOC.example.com>")) == LOOP
    assert kind(replacing("Message-ID", f"Message-ID: <{OUR_ID}@mx.soc.example.com>")) == LOOP


def test_a_colleagues_message_id_on_a_domain_we_share_is_no_loop():
    # Thunderbird names its Message-IDs after the sender's domain.
    message = parsed(
        replacing(
            "Message-ID", "Message-ID: <0b6f3e2a-5c4d-4e1f-9a8b-7c6d5e4f3a2b@corp.example.com>"
        )
    )

    assert classify(message, our_domains={"corp.example.com"}).kind == REPLY


def test_an_exchange_out_of_office_from_a_domain_we_share_is_an_auto_reply_not_a_loop():
    headers = replacing("From", "From: Carol <carol@soc.example.com>", OUR_OWN)
    headers = replacing("X-Auto-Response-Suppress", "X-Auto-Response-Suppress: All", headers)

    assert kind(headers) == AUTO_REPLY


def test_our_automatic_headers_from_another_domain_are_an_auto_reply_not_a_loop():
    headers = replacing("From", "From: Bob <bob@corp.example.com>", OUR_OWN)

    assert kind(headers) == AUTO_REPLY


def test_a_lookalike_of_our_domain_is_not_ours():
    assert kind(replacing("Message-ID", f"Message-ID: <{OUR_ID}@evilsoc.example.com>")) == REPLY


# correlation inputs


def test_reply_tokens_are_found_in_every_recipient_field_and_lower_cased():
    headers = (
        replacing("To", f"To: Someone <REPLY+{TOKEN.upper()}@Reply.SOC.example.com>")
        + f"Cc: reply+{OTHER_TOKEN}@{REPLY_DOMAIN}\n"
        + f"Delivered-To: reply+{TOKEN}@{REPLY_DOMAIN}\n"
    )

    tokens = reply_tokens(parsed(headers), reply_domain=REPLY_DOMAIN)

    assert tokens == [TOKEN, OTHER_TOKEN]


def test_reply_tokens_come_from_x_original_to_and_the_envelope_too():
    headers = replacing("To", "To: bob-list@corp.example.com")
    headers += f"X-Original-To: reply+{TOKEN}@{REPLY_DOMAIN}\n"

    message = parsed(headers)

    assert reply_tokens(message, reply_domain=REPLY_DOMAIN) == [TOKEN]
    assert reply_tokens(
        parsed(replacing("To", "To: bob-list@corp.example.com")),
        reply_domain=REPLY_DOMAIN,
        extra_addresses=[f"<reply+{OTHER_TOKEN}@{REPLY_DOMAIN}>"],
    ) == [OTHER_TOKEN]


@pytest.mark.parametrize(
    "address",
    [
        f"reply+{TOKEN[:-1]}@{REPLY_DOMAIN}",  # too short
        f"reply+{TOKEN}a@{REPLY_DOMAIN}",  # too long
        f"reply+{TOKEN[:-1]}1@{REPLY_DOMAIN}",  # 1 is not base32
        f"reply+{TOKEN}@{REPLY_DOMAIN}.evil.example.net",
        f"reply+{TOKEN}@evil.example.net",
        f"noreply+{TOKEN}@{REPLY_DOMAIN}",
    ],
)
def test_a_malformed_or_foreign_reply_address_gives_no_token(address):
    message = parsed(replacing("To", f"To: {address}"))

    assert reply_tokens(message, reply_domain=REPLY_DOMAIN) == []


def test_a_token_in_a_display_name_is_not_a_recipient():
    message = parsed(replacing("To", f'To: "reply+{TOKEN}@{REPLY_DOMAIN}" <bob@corp.example.com>'))

    assert reply_tokens(message, reply_domain=REPLY_DOMAIN) == []


def test_referenced_message_ids_put_in_reply_to_first_without_repeats():
    headers = replacing("In-Reply-To", "In-Reply-To: <Reminder@soc.example.com>")
    headers = replacing(
        "References", "References: <first@soc.example.com> <reminder@soc.example.com>", headers
    )

    assert referenced_message_ids(parsed(headers)) == [
        "<reminder@soc.example.com>",
        "<first@soc.example.com>",
    ]


@pytest.mark.parametrize(
    ("subject", "numbers"),
    [
        ("Re: [SIR0001234] Did you download this file?", ["SIR0001234"]),
        ("AW: [sir0001234] x [SIR0009999] [SIR0001234]", ["SIR0001234", "SIR0009999"]),
        ("[SIR000123] too short", []),
        ("[SIR00012345] too long", []),
        ("SIR0001234 without brackets", []),
        ("[SIT0001234] a task, not an incident", []),
        ("", []),
    ],
)
def test_subject_incident_numbers_take_only_exact_tags(subject, numbers):
    assert subject_incident_numbers(subject) == numbers


def test_a_bounce_names_the_original_message_and_its_reply_token():
    original = (
        "Content-Type: message/rfc822\n\n"
        "From: SOC <soc@soc.example.com>\n"
        f"Reply-To: reply+{TOKEN}@{REPLY_DOMAIN}\n"
        "Message-ID: <Reminder-7@soc.example.com>\n"
        "References: <question-7@soc.example.com>\n\nHello"
    )
    bounce = report(
        "delivery-status",
        "Content-Type: message/delivery-status\n\nAction: failed\n--r\n" + original,
    )

    message = parsed(
        replacing("From", "From: mailer-daemon@mx.example.org"), bounce, content_type=""
    )

    assert original_message_ids(message) == [
        "<reminder-7@soc.example.com>",
        "<question-7@soc.example.com>",
    ]
    assert original_reply_tokens(message, reply_domain=REPLY_DOMAIN) == [TOKEN]


def test_a_bounce_with_only_the_original_headers_names_the_original():
    headers_only = (
        "Content-Type: text/rfc822-headers\n\n"
        f"Message-ID: <q@soc.example.com>\nReply-To: <reply+{TOKEN}@{REPLY_DOMAIN}>\n"
    )

    message = parsed(body=report("delivery-status", headers_only), content_type="")

    assert original_message_ids(message) == ["<q@soc.example.com>"]
    assert original_reply_tokens(message, reply_domain=REPLY_DOMAIN) == [TOKEN]


def test_a_plain_reply_names_no_original():
    assert original_message_ids(parsed()) == []


# strip_quoted


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("- No", "- No"),
        ("1", "1"),
        ("Yes", "Yes"),
        ("nein", "nein"),
        ("Oui", "Oui"),
        ("yes\n\nSent from my iPhone", "yes"),
        ("Ja\n\nVon meinem iPhone gesendet", "Ja"),
        ("Oui\n\nEnvoyé de mon iPhone", "Oui"),
        ("No\n-- \nBob Builder\nyes-men Ltd", "No"),
        ("-- No", "-- No"),
        (
            "Yes\n\nOn Mon, 1 Jan 2026 at 10:00, SOC <soc@x.example> wrote:\n"
            "> Yes, I downloaded this file\n> No, I did not",
            "Yes",
        ),
        (
            "No\n\nOn Mon, 1 Jan 2026 at 10:00, Security Operations Team <\n"
            "soc@soc.example.com> wrote:\n\n> Yes, I downloaded this file",
            "No",
        ),
        (
            "No\n\nFrom: SOC <soc@x.example>\nSent: Monday, 1 January 2026 10:00\n"
            "To: Bob <bob@x.example>\nSubject: Did you download this file?\n\n"
            "Yes, I downloaded this file",
            "No",
        ),
        (
            "Yes\n\n-----Original Message-----\nFrom: SOC\nNo, I did not",
            "Yes",
        ),
        (
            "No\n\nOn 1 Jan 2026, at 10:00, SOC <soc@x.example> wrote:\n\n"
            "> Yes, I downloaded this file",
            "No",
        ),
        (
            "Nein\n\nVon: SOC <soc@x.example>\nGesendet: Montag, 1. Januar 2026 10:00\n"
            "An: Bob\nBetreff: Haben Sie\n\nJa, ich habe",
            "Nein",
        ),
        ("Ja\n\nAm 01.01.2026 um 10:00 schrieb SOC <soc@x.example>:\n> Nein", "Ja"),
        ("Non\n\nLe lun. 1 janv. 2026 à 10:00, SOC <soc@x.example> a écrit :\n> Oui", "Non"),
        ("Sí\n\nEl lun, 1 ene 2026 a las 10:00, SOC (<soc@x.example>) escribió:\n> No", "Sí"),
        ("Nee\n\nOp ma 1 jan. 2026 om 10:00 schreef SOC <soc@x.example>:\n> Ja", "Nee"),
        ("Sì\n\nIl giorno lun 1 gen 2026 alle ore 10:00 SOC ha scritto:\n> No", "Sì"),
        ("No\n> Yes, I downloaded this file\n> No, I did not", "No"),
        ("No\n\n________________________________\nFrom: SOC\nYes", "No"),
    ],
)
def test_strip_quoted_keeps_only_the_newest_words(text, kept):
    assert strip_quoted(text) == kept


def test_strip_quoted_finds_a_reply_written_below_the_quote():
    text = (
        "On 05/01/2026 09:58, Security Operations wrote:\n"
        "> Did you download this file?\n> Yes, I downloaded this file\n> No, I did not\n\n"
        "No, that was not me.\n\n-- \nBob"
    )

    assert strip_quoted(text) == "No, that was not me."


def test_strip_quoted_leaves_nothing_of_a_quote_without_a_reply():
    assert strip_quoted("> Yes, I downloaded this file\n> No, I did not") == ""
    assert strip_quoted("From: SOC <soc@x.example>\nSent: Monday\nTo: Bob\n\nYes\nNo") == ""


def test_strip_quoted_cuts_on_its_own_when_the_library_finds_nothing(monkeypatch):
    monkeypatch.setattr(answer_module, "_library_reply", lambda text, languages: "")

    text = "- No\n\nOn Mon, 1 Jan 2026 at 10:00, SOC <soc@x.example> wrote:\n> Yes"

    assert strip_quoted(text) == "- No"


def test_strip_quoted_stays_fast_on_hostile_long_lines():
    started = time.monotonic()

    strip_quoted("On " + "a " * 50_000 + "\n" + ("On " + "b " * 495 + "\n") * 40)

    assert time.monotonic() - started < 5


@pytest.mark.parametrize("text", ["", "   \n\n", "\r\n"])
def test_strip_quoted_of_nothing_is_nothing(text):
    assert strip_quoted(text) == ""


# read_answer


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Yes", "yes"),
        ("no", "no"),
        ("- No", "no"),
        ("1", "yes"),
        ("2.", "no"),
        ("(2)", "no"),
        ("1)", "yes"),
        ("Yes, I downloaded this file", "yes"),
        ("No, I did not", "no"),
        ("  YES,   i downloaded   THIS file  ", "yes"),
        ("yes\n\nSent from my iPhone", "yes"),
        ("Hi,\n\nno", "no"),
        ("Hallo Team,\n\nja", "yes"),
        ("Dear SOC team,\nYes it was me.", "yes"),
        ("Hello, yes, that was me", "yes"),
        ("yeah", "yes"),
        ("Yep!", "yes"),
        ("y", "yes"),
        ("Correct", "yes"),
        ("That was me", "yes"),
        ("Nope", "no"),
        ("n", "no"),
        ("Not me", "no"),
        ("That wasn\u2019t me", "no"),
        ("I did not download it", "no"),
        ("Ja", "yes"),
        ("Jawohl", "yes"),
        ("Nein, das war ich nicht.", "no"),
        ("Oui, c'est moi", "yes"),
        ("Non", "no"),
        ("Sí", "yes"),
        ("si", "yes"),
        ("No, no fui yo", "no"),
        ("Nee", "no"),
        ("Neen, dat was ik niet", "no"),
        ("Sì", "yes"),
        ("No, non sono stato io", "no"),
        ("Yes, no problem", "yes"),
        ("No, I have no idea where it came from", "no"),
        (
            "No\n\nOn Mon, 1 Jan 2026 at 10:00, SOC <soc@x.example> wrote:\n"
            "> Yes, I downloaded this file\n> No, I did not\n> yes or no",
            "no",
        ),
        ("No.\n\nLine two\nLine three\nLine four says yes, I downloaded this file", "no"),
    ],
)
def test_read_answer_accepts_an_unambiguous_answer(text, key):
    assert read_answer(text, OPTIONS).key == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Sent from my iPhone",
        "not sure",
        "I'm not sure, to be honest",
        "I don't know",
        "maybe",
        "Perhaps, I cannot remember",
        "weiß nicht",
        "Keine Ahnung",
        "je ne sais pas",
        "no sé",
        "misschien",
        "non so",
        "Yes and no",
        "Yes, but I did not open it",
        "1\nno wait",
        "3",
        "What is this about?",
        "Line one\nline two\nline three\nyes",
        "> Yes, I downloaded this file\n> No, I did not",
    ],
)
def test_read_answer_leaves_anything_unclear_unrecognised(text):
    assert read_answer(text, OPTIONS).key == UNRECOGNISED


def test_read_answer_maps_yes_and_no_words_by_label_when_keys_are_different():
    options = [
        {"key": "downloaded", "label": "Yes, that was me"},
        {"key": "not_me", "label": "No, not me"},
    ]

    assert read_answer("yes", options).key == "downloaded"
    assert read_answer("Nein", options).key == "not_me"
    assert read_answer("downloaded", options).key == "downloaded"


def test_read_answer_refuses_a_yes_that_fits_two_options():
    options = [
        {"key": "mine", "label": "Yes, I downloaded it"},
        {"key": "colleague", "label": "Yes, a colleague did"},
        {"key": "no", "label": "No"},
    ]

    assert read_answer("yes", options).key == UNRECOGNISED
    assert read_answer("2", options).key == "colleague"


def test_read_answer_refuses_a_yes_when_no_option_means_yes():
    options = [{"key": "approve", "label": "Approve"}, {"key": "reject", "label": "Reject"}]

    assert read_answer("yes", options).key == UNRECOGNISED
    assert read_answer("Approve", options).key == "approve"


def test_read_answer_gives_the_stripped_text_cut_to_two_thousand_characters():
    text = "No. " + "x" * 5_000 + "\n\nOn Mon, 1 Jan 2026, SOC <soc@x.example> wrote:\n> Yes"

    reading = read_answer(text, OPTIONS)

    assert reading.key == "no"
    assert len(reading.text) == 2_000
    assert reading.text.startswith("No. xxx")
    assert reading.reason


def test_read_answer_explains_an_unrecognised_reply():
    reading = read_answer("maybe\n\n> Yes", OPTIONS)

    assert reading.key == UNRECOGNISED
    assert "hedged" in reading.reason
    assert reading.text == "maybe"


# address_matches


@pytest.mark.parametrize(
    ("address", "expected", "matches"),
    [
        ("bob@corp.example.com", "bob@corp.example.com", True),
        ("Bob@CORP.Example.com", "bob@corp.example.com", True),
        (" bob@corp.example.com ", "bob@corp.example.com", True),
        ("bob+tag@corp.example.com", "bob@corp.example.com", False),
        ("bob@corp.example.com.evil.example.net", "bob@corp.example.com", False),
        ('"bob@corp.example.com" <evil@x.example.com>', "bob@corp.example.com", False),
        ("<bob@corp.example.com>", "bob@corp.example.com", False),
        ("Bob <bob@corp.example.com>", "bob@corp.example.com", False),
        ("bob@corp.example.com, evil@x.example.com", "bob@corp.example.com", False),
        (None, "bob@corp.example.com", False),
        ("", "", False),
        ("bob", "bob", False),
    ],
)
def test_address_matches_only_the_same_plain_address(address, expected, matches):
    assert address_matches(address, expected) is matches


def test_the_package_exports_its_public_api():
    assert set(parsing.__all__) >= {
        "parse_message",
        "html_to_text",
        "classify",
        "reply_tokens",
        "referenced_message_ids",
        "subject_incident_numbers",
        "original_message_ids",
        "strip_quoted",
        "read_answer",
        "address_matches",
    }
