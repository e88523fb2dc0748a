"""The analyst's view in a real browser (the system Chromium, driven by Playwright): a
title and a name carrying a right-to-left override and a zero-width space read as what
they are, not as what they pretend to be."""

from django.urls import reverse

from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import AnalystFactory, PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS


def test_an_analyst_sees_markers_for_a_right_to_left_override_and_a_zero_width_space(
    chromium,
    live_server,
    shots,
):
    AnalystFactory(username="alice")
    eve = PersonFactory(email="eve@corp.example.com", first_name="Eve\u200b", last_name="Mallory")
    incident = open_incident(
        category=category("failed-login"),
        affected_user=eve,
        short_description="Payment for invoice\u202efdp.exe",
    )
    page = signed_in(chromium, live_server, "alice")

    page.goto(f"{live_server.url}{reverse('admin:incidents_securityincident_changelist')}")
    listed = page.inner_text("#result_list")
    page.goto(
        f"{live_server.url}{reverse('admin:incidents_securityincident_change', args=[incident.pk])}"
    )
    shown = page.inner_text("#content")
    page.screenshot(path=str(shots / "incident-page.png"), full_page=True)

    assert "Payment for invoice⟨U+202E⟩fdp.exe" in listed
    assert "Eve⟨U+200B⟩ Mallory <eve@corp.example.com>" in listed
    assert f"{incident.number} Payment for invoice⟨U+202E⟩fdp.exe" in shown  # the heading
    assert "Eve⟨U+200B⟩ Mallory <eve@corp.example.com>" in shown  # the user's details
    assert "Contains invisible characters: Payment for invoice⟨U+202E⟩fdp.exe" in shown
    assert "\u202e" not in shown and "\u200b" not in shown
    # The form field holds the title as stored: saving it changes nothing.
    title = page.input_value("#id_short_description")
    assert title == "Payment for invoice\u202efdp.exe"
