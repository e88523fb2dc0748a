"""An author edits a step's parameters through the form built from the action's declared
parameters, in a real browser (the system Chromium), and saves: a new version, in History."""

from django.contrib.auth.models import Group
from django.urls import reverse

from incidents.groups import RUNBOOK_AUTHOR
from runbooks.files import import_shipped_runbooks
from runbooks.models import Runbook
from tests.admin_history import admin_history
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import UserFactory

pytestmark = BROWSER_MARKS

NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= 1366"


def test_an_author_edits_a_steps_parameters_through_the_form_and_saves(
    chromium, live_server, shots
):
    runbook = {r.name: r for r in import_shipped_runbooks()}["Failed sign-ins"]
    author = UserFactory(username="rune", first_name="Rune", last_name="Book", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    page = signed_in(chromium, live_server, "rune", viewport={"width": 1366, "height": 900})
    url = f"{live_server.url}{reverse('admin:runbooks_runbook_change', args=[runbook.pk])}"

    page.goto(url)
    ask = page.locator("#steps-1")  # the question, the second step
    # Only the chosen action's parameters show: the question's, not the note's.
    assert ask.locator("fieldset.step-params-ask_user").is_visible()
    assert not ask.locator("fieldset.step-params-add_note").is_visible()
    assert page.input_value("#id_steps-1-param__ask_user__deadline_hours") == "24"
    page.fill("#id_steps-1-param__ask_user__deadline_hours", "48")
    page.fill("#id_steps-1-param__ask_user__options-label-1", "No, not me")
    page.check("#id_steps-1-param__ask_user__request_evidence")
    # The next step's guard (the manager's question) ticks options of the question,
    # offered by name, including one the author adds now.
    page.fill("#id_steps-1-param__ask_user__options-key-2", "unsure")
    page.fill("#id_steps-1-param__ask_user__options-label-2", "I am not sure")
    next_outcomes = page.locator("#steps-2 .fieldBox.field-guard_outcomes")
    assert "Yes, that was me (yes)" in next_outcomes.inner_text()
    next_outcomes.get_by_label("I am not sure (unsure)").check()
    # The steps after the manager's question branch on her options, and every outcome.
    last = page.locator("#steps-6 .fieldBox.field-guard_outcomes").inner_text()
    assert "Yes, that was them (yes)" in last and "Yes, that was me" not in last
    assert "Nobody to ask (e.g. no manager)" in last and "not an option" not in last
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    ask.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "cockpit-authoring-form.png"), full_page=True)
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "cockpit-authoring-saved.png"), full_page=True)

    assert "was changed successfully" in page.inner_text("body")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    runbook.refresh_from_db()
    assert runbook.version == 2
    params = runbook.steps.get(position=2).params
    assert params["deadline_hours"] == 48 and params["request_evidence"] is True
    # The English label changed; its translations stay, and the new option has one label.
    no = params["options"][1]
    assert no["key"] == "no" and no["label"]["en"] == "No, not me"
    assert no["label"]["de"] == "Nein, das war ich nicht"
    # The option's "what happens next" is kept through the form.
    assert no["next"]["en"].startswith("Your password will be reset")
    assert no["next"]["de"].startswith("Ihr Passwort wird zurückgesetzt")
    assert params["options"][2] == {"key": "unsure", "label": "I am not sure"}
    assert runbook.steps.get(position=3).guard_outcomes == [
        "unsure", "no_answer", "undeliverable", "out_of_office",
    ]  # fmt: skip
    action, user, message = admin_history(runbook)[-1]
    assert (action, user) == ("changed", "rune")
    assert "Deadline after (hours)" in message


def test_without_javascript_every_actions_fields_show_and_the_chosen_ones_save(
    chromium, live_server, shots
):
    runbook = {r.name: r for r in import_shipped_runbooks()}["Failed sign-ins"]
    author = UserFactory(username="rune", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    page = signed_in(
        chromium, live_server, "rune", viewport={"width": 1366, "height": 900},
        java_script_enabled=False,
    )  # fmt: skip

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_change', args=[runbook.pk])}")
    first = page.locator("#steps-0")
    assert first.locator("fieldset.step-params-ask_user").is_visible()  # another action's
    page.select_option("#id_steps-0-param__set_incident_state__state", "contain")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.screenshot(path=str(shots / "cockpit-authoring-no-js.png"), full_page=True)
    page.click("input[name=_save]")
    page.wait_for_load_state()

    assert "was changed successfully" in page.inner_text("body")
    runbook.refresh_from_db()
    assert runbook.version == 2
    assert runbook.steps.get(position=1).params == {"state": "contain"}


def test_an_author_uploads_a_file_with_problems_and_reads_them_per_step(
    chromium, live_server, shots, tmp_path
):
    author = UserFactory(username="rune", is_staff=True)
    author.groups.add(Group.objects.get(name=RUNBOOK_AUTHOR))
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: Lost laptop\nsteps:\n- action: create_task\n- action: nap\n")
    page = signed_in(chromium, live_server, "rune", viewport={"width": 1366, "height": 900})

    page.goto(f"{live_server.url}{reverse('admin:runbooks_runbook_changelist')}")
    page.click("text=Import YAML")
    page.set_input_files("#id_file", str(broken))
    page.click("input[type=submit][value=Import]")
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "cockpit-authoring-import.png"), full_page=True)

    listed = page.locator("#import-errors li").all_inner_texts()
    assert listed[0] == "step 1, params.title: required"
    assert listed[1].startswith("step 2, action: unknown action 'nap'")
    assert not Runbook.objects.filter(name="Lost laptop").exists()
