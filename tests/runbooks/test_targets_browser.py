"""The Failed sign-ins runbook's second question on its diagram, as an author and an analyst
see it in a real browser (the system Chromium, driven by Playwright)."""

from django.contrib.auth.models import Group
from django.urls import reverse

from incidents.groups import RUNBOOK_AUTHOR
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import UserFactory

pytestmark = BROWSER_MARKS


def test_the_managers_question_reads_as_a_detour_on_the_diagram(chromium, live_server, shots):
    runbook = {r.name: r for r in import_shipped_runbooks()}["Failed sign-ins"]
    author = UserFactory(username="rune", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    page = signed_in(chromium, live_server, "rune", viewport={"width": 1280, "height": 900})

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_change', args=[runbook.pk])}")
    diagram = page.locator("svg[role=img]").first
    diagram.scroll_into_view_if_needed()
    diagram.screenshot(path=str(shots / "runbook-ask-manager.png"))

    texts = diagram.locator("text").all_text_contents()
    assert "2. Ask the affected user" in texts and "3. Ask their manager" in texts
    assert "no answer, undeliverable, out of office" in texts and "otherwise" in texts
    # Every box is drawn whole, none on top of another.
    boxes = [box.bounding_box() for box in diagram.locator("g.flow-step rect").all()]
    assert len(boxes) == 7
    for index, a in enumerate(boxes):
        for b in boxes[index + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, (a, b)
