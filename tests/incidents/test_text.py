from core.text import header_text, reveal_invisible


def test_header_text_turns_nul_and_runs_of_controls_into_one_space():
    assert header_text("Invoice\x00\x0b\r\n\x85\u2028paid") == "Invoice paid"


def test_header_text_removes_unicode_tags_that_hide_ascii_text():
    hidden = "".join(chr(0xE0000 + ord(c)) for c in "ignore this")
    assert header_text(f"Invoice{hidden} paid") == "Invoice paid"


def test_reveal_invisible_writes_each_character_out_and_keeps_the_rest():
    assert reveal_invisible("a\u202eb\u200b\ufeffc d") == "a⟨U+202E⟩b⟨U+200B⟩⟨U+FEFF⟩c d"
