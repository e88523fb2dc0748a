"""Reading the addresses an analyst pastes into "Ask people…": lists as mail clients write
them and message-trace exports as they come, every unread line reported by number."""

from mailflow.parsing.addresses import SkippedLine, read_pasted_addresses

# Headers as the exports write them; the rows are made up.
EXCHANGE_HISTORICAL = (
    '"origin_timestamp_utc","sender_address","recipient_status","message_subject",'
    '"total_bytes","message_id","network_message_id","original_client_ip","directionality"\n'
    '"2026-12-01T09:00:00Z","billing@phish.example","jane@corp.example.com##Receive, Deliver;'
    'bob@corp.example.com##Receive, Deliver","Invoice overdue","2048","<m1@phish.example>",'
    '"3f2a","203.0.113.9","Incoming"\n'
    '"2026-12-01T09:00:02Z","billing@phish.example","carl@corp.example.com##Receive, Fail",'
    '"Invoice overdue","2048","<m2@phish.example>","3f2b","203.0.113.9","Incoming"\n'
    '"2026-12-01T09:00:03Z","billing@phish.example","##Receive, Fail",'
    '"Invoice overdue","2048","<m3@phish.example>","3f2c","203.0.113.9","Incoming"\n'
)
GET_MESSAGE_TRACE = (
    '"Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP","Size",'
    '"MessageId","MessageTraceId"\n'
    '"12/1/2026 9:00:00 AM","billing@phish.example","Jane@Corp.example.com","Invoice overdue",'
    '"Delivered","","203.0.113.9","2048","<m1@phish.example>","3f2a"\n'
    '"12/1/2026 9:00:01 AM","billing@phish.example","","Invoice overdue","Failed","",'
    '"203.0.113.9","2048","<m1@phish.example>","3f2b"\n'
    '"12/1/2026 9:00:02 AM","billing@phish.example","bob@corp.example.com","Invoice overdue",'
    '"Delivered","","203.0.113.9","2048","<m1@phish.example>","3f2c"\n'
)
GOOGLE_WORKSPACE = (
    "Message ID,Date,Sender,Recipient,Subject,Event\n"
    "<m1@phish.example>,2026-12-01 09:00 UTC,billing@phish.example,jane@corp.example.com,"
    '"Invoice, overdue",Delivered\n'
    "<m1@phish.example>,2026-12-01 09:00 UTC,billing@phish.example,jane@corp.example.com,"
    '"Invoice, overdue",Opened\n'
)


def test_it_reads_names_and_addresses_as_mail_clients_write_them():
    pasted = read_pasted_addresses(
        '"Doe, Jane" <Jane@Corp.example.com>; Bob Builder <bob@corp.example.com>,\n'
        "carl@corp.example.com dora@corp.example.com\n"
        "Émile Zola <emile@corp.example.com>"
    )

    assert pasted.addresses == [
        "jane@corp.example.com",
        "bob@corp.example.com",
        "carl@corp.example.com",
        "dora@corp.example.com",
        "emile@corp.example.com",
    ]
    assert pasted.skipped == [] and pasted.column == ""


def test_mixed_separators_and_blank_lines_give_each_address_once():
    pasted = read_pasted_addresses(
        "a@corp.example.com, b@corp.example.com;c@corp.example.com\tA@CORP.example.com\n\n"
        "  b@corp.example.com  \r\n"
    )

    assert pasted.addresses == ["a@corp.example.com", "b@corp.example.com", "c@corp.example.com"]
    assert pasted.duplicates == 2 and pasted.skipped == []


def test_junk_is_skipped_with_its_line_number_and_the_reason():
    pasted = read_pasted_addresses(
        "a@corp.example.com\n"
        "Kind regards, the mail team\n"
        "alice@corp.example.com)<mallory@evil.example>\n"
        "b@corp.example.com\n"
        "broken@\n"
    )

    assert pasted.addresses == ["a@corp.example.com", "b@corp.example.com"]
    assert pasted.skipped == [
        SkippedLine(2, "Kind regards", "no email address"),
        SkippedLine(2, "the mail team", "no email address"),
        SkippedLine(
            3, "alice@corp.example.com)<mallory@evil.example>", "not a valid email address"
        ),
        SkippedLine(5, "broken@", "not a valid email address"),
    ]


def test_a_quoted_display_name_cannot_smuggle_a_second_address():
    pasted = read_pasted_addresses('"bob@corp.example.com" <mallory@evil.example>')

    assert pasted.addresses == ["mallory@evil.example"]


def test_a_skipped_lines_text_is_shortened_and_stripped_of_invisible_characters():
    (skipped,) = read_pasted_addresses("x" * 500 + "\u202e@").skipped

    assert len(skipped.text) == 80 and "\u202e" not in skipped.text


def test_an_exchange_historical_trace_gives_its_recipients_and_sets_the_sender_apart():
    pasted = read_pasted_addresses(EXCHANGE_HISTORICAL)

    assert pasted.column == "recipient_status"
    assert pasted.addresses == [
        "jane@corp.example.com",
        "bob@corp.example.com",
        "carl@corp.example.com",
    ]
    assert pasted.senders == ["billing@phish.example"]
    assert [(s.line, s.reason) for s in pasted.skipped] == [
        (4, "no address in column 'recipient_status'")
    ]


def test_a_get_message_trace_export_reports_a_row_without_a_recipient():
    pasted = read_pasted_addresses(GET_MESSAGE_TRACE)

    assert pasted.column == "RecipientAddress"
    assert pasted.addresses == ["jane@corp.example.com", "bob@corp.example.com"]
    assert [(s.line, s.reason) for s in pasted.skipped] == [
        (3, "no address in column 'RecipientAddress'")
    ]


def test_a_google_workspace_export_counts_a_recipients_second_event_as_a_duplicate():
    pasted = read_pasted_addresses(GOOGLE_WORKSPACE)

    assert pasted.column == "Recipient"
    assert pasted.addresses == ["jane@corp.example.com"] and pasted.duplicates == 1
    assert pasted.senders == ["billing@phish.example"]


def test_semicolon_and_tab_separated_exports_are_read_too():
    semicolons = "Date;Sender;To;Subject\n1.12.2026;x@phish.example;a@corp.example.com;Hi\n"
    tabs = "Date\tSender address\tRecipient address\n1\tx@phish.example\tb@corp.example.com\n"

    assert read_pasted_addresses(semicolons).addresses == ["a@corp.example.com"]
    assert read_pasted_addresses(tabs).addresses == ["b@corp.example.com"]
    assert read_pasted_addresses(tabs).column == "Recipient address"


def test_without_a_known_header_the_column_with_addresses_in_most_rows_is_read():
    # Column names in another language. The sender fills more rows, but repeats itself.
    pasted = read_pasted_addresses(
        "Datum,Von,An,Betreff\n"
        "1,x@phish.example,a@corp.example.com,Rechnung\n"
        "2,x@phish.example,b@corp.example.com,Rechnung\n"
        "3,x@phish.example,kein Empfänger,Rechnung\n"
    )

    assert pasted.column == "An"
    assert pasted.addresses == ["a@corp.example.com", "b@corp.example.com"]
    assert pasted.skipped == [SkippedLine(4, "kein Empfänger", "no email address")]


def test_a_trace_without_any_address_reports_every_row():
    pasted = read_pasted_addresses("Date,Subject,Status\n1,Hi,Delivered\n2,Hi,Failed\n")

    assert pasted.addresses == []
    assert [s.line for s in pasted.skipped] == [2, 3]
    assert {s.reason for s in pasted.skipped} == {"no column holds email addresses"}
