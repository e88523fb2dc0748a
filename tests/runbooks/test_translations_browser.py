"""A runbook author writes a question's translations in a real browser (the system
Chromium): the default language's box first, the other languages folded below it."""

from django.contrib.auth.models import Group
from django.urls import reverse

from incidents.groups import RUNBOOK_AUTHOR
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import UserFactory

pytestmark = BROWSER_MARKS


def test_an_author_opens_the_other_languages_and_corrects_a_translation(
    chromium, live_server, shots
):
    runbook = {r.name: r for r in import_shipped_runbooks()}["Failed sign-ins"]
    ask = runbook.steps.filter(action="ask_user").first()  # the affected person's
    row = list(runbook.steps.order_by("position")).index(ask)
    question = f"#id_steps-{row}-param__ask_user__question"
    author = UserFactory(username="rune", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    page = signed_in(chromium, live_server, "rune", viewport={"width": 1366, "height": 900})

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_change', args=[runbook.pk])}")
    field = page.locator(f".field-param__ask_user__question:has({question})")
    assert page.input_value(question).startswith("Were the failed sign-in attempts")
    assert not page.locator(f"{question}-de").is_visible()  # folded until asked for
    field.locator("summary").click()
    page.fill(f"{question}-de", "Haben Sie sich vorhin angemeldet?")
    options = page.locator(f"#id_steps-{row}-param__ask_user__options-key-0").locator(
        "xpath=ancestor::table"
    )
    options.locator("summary").first.click()
    field.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "runbook-step-translations.png"), full_page=False)
    page.click("input[name=_save]")
    page.wait_for_load_state()

    assert "was changed successfully" in page.inner_text("body")
    ask.refresh_from_db()
    assert ask.params["question"]["de"] == "Haben Sie sich vorhin angemeldet?"
    assert ask.params["question"]["fr"].startswith("Les tentatives de connexion")
    assert ask.params["options"][0]["label"]["it"] == "Sì, ero io"
