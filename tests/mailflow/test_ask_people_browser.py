""" "Ask people…" in a real browser (the system Chromium, driven by Playwright): an analyst
pastes a message trace as it came, reads what was found and skipped, and confirms."""

from django.urls import reverse

from mailflow.models import ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import AnalystFactory, PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS

TRACE_HEADER = (
    '"Received","SenderAddress","RecipientAddress","Subject","Status","ToIP","FromIP",'
    '"Size","MessageId","MessageTraceId"'
)


def trace_row(n: int, recipient: str) -> str:
    return (
        f'"12/1/2026 9:00:0{n} AM","billing@phish.example","{recipient}","Invoice overdue",'
        f'"Delivered","","203.0.113.9","2048","<m1@phish.example>","3f2{n}"'
    )


def test_an_analyst_pastes_a_message_trace_checks_it_and_asks_its_recipients(
    chromium, live_server, shots
):
    AnalystFactory(username="alice")
    import_shipped_runbooks()
    people = [
        PersonFactory(email=f"{name.lower()}@corp.example.com", first_name=name)
        for name in ["Jane", "Bob", "Carl"]
    ]
    incident = open_incident(
        category=category("phishing"), short_description="Invoice overdue with a fake login"
    )
    trace = "\n".join(
        [
            TRACE_HEADER,
            *(trace_row(n, person.email) for n, person in enumerate(people)),
            trace_row(3, "billing@phish.example"),  # the sender's own copy
            trace_row(4, ""),  # a recipient the trace lost
        ]
    )
    page = signed_in(chromium, live_server, "alice", viewport={"width": 1280, "height": 900})

    page.goto(
        f"{live_server.url}{reverse('admin:incidents_securityincident_change', args=[incident.pk])}"
    )
    page.get_by_role("link", name="Ask people…").click()
    assert page.locator("#id_runbook option:checked").inner_text() == "Phishing recipients"
    page.fill("#id_addresses", trace)
    page.get_by_role("button", name="Check the list").click()
    page.wait_for_selector("#list-reading")
    reading = page.inner_text("#list-reading")
    page.screenshot(path=str(shots / "ask-people-checked.png"), full_page=True)

    assert "4 addresses found in the column “RecipientAddress”." in reading
    assert "billing@phish.example: the sender, not asked." in reading
    skipped = page.locator("table.soc-skipped tbody tr")
    assert skipped.count() == 1
    assert skipped.first.locator("td").first.inner_text() == "6"
    assert "no address in column 'RecipientAddress'" in skipped.first.inner_text()
    sidebar_current = page.locator("#nav-sidebar tr.current-model th a")
    assert sidebar_current.inner_text() == "Security incidents"
    assert not ConfirmationRequest.objects.exists()

    page.get_by_role("button", name="Ask 3 people").click()
    page.wait_for_url(f"**/admin/incidents/securityincident/{incident.pk}/change/")
    page.screenshot(path=str(shots / "ask-people-asked.png"), full_page=True)

    assert "Asking 3 people with 'Phishing recipients'" in page.inner_text(".messagelist")
    asked = ConfirmationRequest.objects.filter(incident=incident)
    assert sorted(r.recipient_email for r in asked) == sorted(p.email for p in people)
