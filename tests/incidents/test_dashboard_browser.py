"""The dashboard in a real browser (the system Chromium, driven by Playwright): a SOC
analyst signs in, sees where things stand, and clicks a figure through to its list."""

from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from incidents.models import ResponseTask
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.dashboard import busy_month
from tests.factories import AnalystFactory

pytestmark = BROWSER_MARKS


def test_an_analyst_follows_a_figure_from_the_dashboard_to_its_list(chromium, live_server, shots):
    from playwright.sync_api import expect

    cache.clear()  # figures another test's page left for a minute
    AnalystFactory(username="alice")
    busy_month(timezone.now())
    page = signed_in(chromium, live_server, "alice", viewport={"width": 1366, "height": 900})

    dashboard = page.locator(".soc-dashboard")
    expect(dashboard).to_contain_text("Figures as of")
    expect(dashboard.locator("svg[role=img]")).to_have_count(3)
    page.screenshot(path=str(shots / "cockpit-dashboard.png"), full_page=True)
    overdue = ResponseTask.objects.filter(due_at__lt=timezone.now()).count()
    width = page.evaluate("document.documentElement.scrollWidth")

    page.get_by_role("link", name=f"{overdue} Overdue tasks").click()

    page.wait_for_url(f"**{reverse('admin:incidents_responsetask_changelist')}?due=overdue")
    expect(page.locator("#result_list tbody tr")).to_have_count(overdue)
    page.screenshot(path=str(shots / "cockpit-dashboard-drilldown.png"), full_page=True)
    assert overdue == 4
    assert width <= 1366


def test_answers_needing_review_open_the_list_of_those_answers(chromium, live_server, shots):
    from playwright.sync_api import expect

    cache.clear()
    AnalystFactory(username="alice")
    busy_month(timezone.now())
    page = signed_in(chromium, live_server, "alice", viewport={"width": 1366, "height": 900})

    page.get_by_role("link", name="1 Answers needing review").click()

    page.wait_for_url("**/admin/mailflow/answer/?review=any")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("No")
    expect(rows.first).to_contain_text("suspected automated")
    page.screenshot(path=str(shots / "cockpit-dashboard-answers.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366
