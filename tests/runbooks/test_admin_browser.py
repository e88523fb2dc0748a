"""A runbook author in a real browser (the system Chromium, driven by Playwright): a
runbook saves as the page shows it, with the blank step rows the page offers left alone."""

from django.contrib.auth.models import Group
from django.urls import reverse

from incidents.groups import RUNBOOK_AUTHOR
from runbooks.files import import_shipped_runbooks
from runbooks.models import Runbook
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import UserFactory

pytestmark = BROWSER_MARKS


def signed_in_author(chromium, live_server):
    author = UserFactory(username="rune", first_name="Rune", last_name="Book", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    page = signed_in(chromium, live_server, "rune")
    return page


def test_an_author_saves_a_shipped_runbook_without_changing_it(chromium, live_server, shots):
    runbook = {r.name: r for r in import_shipped_runbooks()}["Failed sign-ins"]
    page = signed_in_author(chromium, live_server)

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_change', args=[runbook.pk])}")
    blank_params = page.input_value(f"#id_steps-{runbook.steps.count()}-param__create_task__title")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "runbook-saved.png"), full_page=True)

    assert "was changed successfully" in page.inner_text("body")
    assert page.url == f"{live_server.url}{reverse('admin:runbooks_runbook_changelist')}"
    assert blank_params == ""
    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_history', args=[runbook.pk])}")
    page.screenshot(path=str(shots / "runbook-history.png"), full_page=True)
    rows = [row.inner_text().split("\t") for row in page.locator("#change-history tbody tr").all()]
    assert [row[1:] for row in rows] == [
        [
            "system:commands",
            "Imported from runbooks/library/failed-sign-ins.yaml (installed with the app, "
            "version 1)",
        ],
        ["rune (Rune Book)", "No fields changed."],
    ]
    runbook.refresh_from_db()
    assert runbook.version == 1


def test_an_author_adds_a_runbook_leaving_an_added_step_row_blank(chromium, live_server, shots):
    page = signed_in_author(chromium, live_server)

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_add')}")
    page.fill("#id_name", "Lost laptop")
    page.fill("#id_steps-0-position", "1")
    page.select_option("#id_steps-0-action", "create_task")
    page.fill("#id_steps-0-param__create_task__title", "Locate the device")
    page.click(".add-row a")  # "Add another Runbook step"
    added = page.locator("#id_steps-1-param__create_task__title")
    page.screenshot(path=str(shots / "runbook-add.png"), full_page=True)
    added_params = added.input_value()
    page.click("input[name=_save]")
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "runbook-added.png"), full_page=True)

    assert "was added successfully" in page.inner_text("body")
    assert added_params == ""
    runbook = Runbook.objects.get(name="Lost laptop")
    assert [(s.position, s.action) for s in runbook.steps.all()] == [(1, "create_task")]
