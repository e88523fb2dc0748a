"""The step form built from the actions' declared parameters: a typed field per parameter,
help and placeholders, guards ticked from the question's options, errors beside their
field, and a page whose query count does not grow with its steps."""

import pytest
from django import forms
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runbooks.models import Runbook, RunbookStep
from runbooks.param_fields import HoursField, OptionsField, StepTextField
from runbooks.params import PLACEHOLDERS
from runbooks.step_forms import step_form_class
from tests.builders.runbook_forms import change_url, existing, form_data, step_form_errors
from tests.runbooks.conftest import NOTE_YES, TASK


@pytest.fixture
def form(db):
    return step_form_class()()


@pytest.mark.parametrize(
    ("field", "kind", "label"),
    [
        ("param__assign__analyst", forms.CharField, "Analyst (username)"),
        ("param__add_note__text", StepTextField, "Text"),
        ("param__ask_user__deadline_hours", forms.IntegerField, "Deadline after (hours)"),
        ("param__ask_user__request_evidence", forms.BooleanField, "Ask for evidence"),
        ("param__set_incident_state__state", forms.ChoiceField, "State"),
        ("param__ask_user__options", OptionsField, "Options"),
        ("param__ask_user__reminders_after_hours", HoursField, "Reminders after (hours)"),
    ],
)
def test_each_parameter_kind_becomes_its_own_typed_field(form, field, kind, label):
    assert type(form.fields[field]) is kind
    assert form.fields[field].label == label
    assert form.fields[field].help_text


def test_fields_carry_the_declared_defaults_requirements_and_choices(form):
    fields = form.fields
    assert fields["param__ask_user__deadline_hours"].initial == 72
    assert fields["param__ask_user__deadline_hours"].min_value == 0
    assert fields["param__ask_user__question"].required
    assert not fields["param__ask_user__subject"].required
    assert fields["param__ask_user__relate_to"].choices == [
        ("incident", "The incident"),
        ("task", "The run's current task"),
    ]
    # A choice without a default starts blank; the labels are the states' own.
    state = fields["param__set_incident_state__state"].choices
    assert state[0] == ("", "---------") and ("analysis", "Analysis") in state
    assert "Placeholders allowed" in fields["param__create_task__title"].help_text
    assert "Placeholders allowed" not in fields["param__assign__group"].help_text


def test_the_options_field_reads_key_and_label_rows_and_skips_blank_ones(form):
    widget = form.fields["param__ask_user__options"].widget
    posted = {
        "o-key-0": "yes",
        "o-label-0": "Yes, me",
        "o-key-1": "",
        "o-label-1": "",
        "o-key-2": "no",
        "o-label-2": "<b>No</b>",
    }

    assert widget.value_from_datadict(posted, {}, "o") == [
        {"key": "yes", "label": "Yes, me"},
        {"key": "no", "label": "<b>No</b>"},
    ]
    html = widget.render("o", [{"key": "no", "label": "<b>No</b>"}], {"id": "id_o"})
    assert "&lt;b&gt;No&lt;/b&gt;" in html and "<b>" not in html  # escaped
    assert html.count('name="o-key-') == 4  # the option and blank rows for more


def test_an_options_next_text_is_read_and_shown_per_row_in_every_language(form):
    widget = form.fields["param__ask_user__options"].widget
    posted = {
        "o-key-0": "yes",
        "o-label-0": "Yes",
        "o-next-0": "Nothing to do.",
        "o-key-1": "no",
        "o-label-1": "No",
        "o-next-1": "Reset.",
        "o-next-1-de": "Zurückgesetzt.",
        "o-key-2": "maybe",
        "o-label-2": "Maybe",
        "o-next-2": "",
    }

    options = widget.value_from_datadict(posted, {}, "o")

    assert options == [
        {"key": "yes", "label": "Yes", "next": "Nothing to do."},
        {"key": "no", "label": "No", "next": {"en": "Reset.", "de": "Zurückgesetzt."}},
        {"key": "maybe", "label": "Maybe"},
    ]
    html = widget.render("o", options, {"id": "id_o"})
    assert 'name="o-next-0" id="id_o-next-0" value="Nothing to do."' in html
    # Each language in an input of its own, as the labels.
    assert 'name="o-next-1" id="id_o-next-1" value="Reset."' in html
    assert 'name="o-next-1-de" id="id_o-next-1-de" value="Zurückgesetzt."' in html


def test_the_page_lists_placeholders_and_each_actions_help(author_client, runbook):
    page = author_client.get(change_url(runbook)).content.decode()

    for name in PLACEHOLDERS:
        assert f"<code>{{{name}}}</code>" in page
    assert "Parameters of “Ask the affected user”" in page
    first_key = "steps-1-param__ask_user__options-key-0"
    assert f'name="{first_key}" id="id_{first_key}" value="yes"' in page
    assert "runbooks/step_form.js" in page
    assert '"deadline_hours"' not in page  # no JSON anywhere


def test_guards_offer_the_options_of_the_question_before_them(author_client, runbook):
    response = author_client.get(change_url(runbook))
    formset = response.context["inline_admin_formsets"][0].formset

    before_question, _question, after_question, extra = formset.forms
    assert [k for k, _ in before_question.fields["guard_outcomes"].choices] == [
        "unrecognised", "no_answer", "undeliverable", "suspicious", "no_target", "out_of_office",
    ]  # fmt: skip
    assert after_question.fields["guard_outcomes"].choices[:2] == [
        ("yes", "Yes, that was me (yes)"),
        ("no", "No (no)"),
    ]
    assert extra.fields["guard_outcomes"].choices[0][0] == "yes"
    assert formset.empty_form.fields["guard_outcomes"].choices[0][0] == "yes"


def test_ticking_an_option_saves_it_as_the_guards_outcome(author_client, runbook):
    steps = existing(runbook)
    steps[2]["outcomes"] = ["no", "no_answer"]

    response = author_client.post(change_url(runbook), form_data(steps, runbook))

    assert response.status_code == 302
    assert runbook.steps.get(position=2).guard_outcomes == ["no", "no_answer"]


def test_options_renamed_in_the_same_save_are_offered_when_the_page_comes_back(
    author_client, runbook
):
    steps = existing(runbook)
    steps[1]["params"]["options"] = [{"key": "mine", "label": "Mine"}, {"key": "no", "label": "No"}]

    response = author_client.post(change_url(runbook), form_data(steps, runbook))

    # The note still branches on "yes", which the question no longer offers.
    errors = step_form_errors(response, 2)
    assert "'yes' is not an option of the question before it" in errors["guard_outcomes"][0]
    choices = response.context["inline_admin_formsets"][0].formset.forms[2]
    assert [k for k, _ in choices.fields["guard_outcomes"].choices][:2] == ["mine", "no"]
    assert ("yes", "yes (not an option)") in choices.fields["guard_outcomes"].choices


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"options": [{"key": "Yes!", "label": "Yes"}, {"key": "no", "label": "No"}]},
            "param__ask_user__options",
            "option key 'Yes!' must be 1-30 lower-case letters, digits, - or _",
        ),
        ({"deadline_hours": "soon"}, "param__ask_user__deadline_hours", "Enter a whole number."),
        ({"deadline_hours": "-1"}, "param__ask_user__deadline_hours", "greater than or equal"),
        ({"question": ""}, "param__ask_user__question", "This field is required."),
    ],
)
def test_a_bad_parameter_shows_beside_its_field_in_its_step(
    author_client, runbook, params, field, message
):
    steps = existing(runbook)
    steps[1]["params"] |= params

    response = author_client.post(change_url(runbook), form_data(steps, runbook))

    assert response.status_code == 200
    assert message in " ".join(step_form_errors(response, 1)[field])
    runbook.refresh_from_db()
    assert runbook.version == 1


def test_only_the_chosen_actions_fields_are_read(author_client, runbook):
    data = form_data(existing(runbook), runbook)
    # Another action's fields of the first step hold junk the page would hide.
    data["steps-0-param__ask_user__deadline_hours"] = "soon"
    data["steps-0-param__add_note__text"] = "{nope}"

    response = author_client.post(change_url(runbook), data)

    assert response.status_code == 302, step_form_errors(response, 0)
    runbook.refresh_from_db()
    assert runbook.version == 1
    assert runbook.steps.get(position=0).params == TASK["params"]


def test_changing_a_steps_action_saves_the_new_actions_parameters(author_client, runbook):
    steps = existing(runbook)
    steps[0] = {"id": steps[0]["id"], "action": "set_incident_state",
                "params": {"state": "analysis"}}  # fmt: skip

    response = author_client.post(change_url(runbook), form_data(steps, runbook))

    assert response.status_code == 302
    step = runbook.steps.get(position=0)
    assert (step.action, step.params) == ("set_incident_state", {"state": "analysis"})
    runbook.refresh_from_db()
    assert runbook.version == 2


@pytest.mark.parametrize(
    ("typed", "stored"), [("4, 24", [4, 24]), ("24,4", [4, 24]), ("", []), (" 12 ", [12])]
)
def test_reminders_are_typed_as_hours_separated_by_commas(author_client, runbook, typed, stored):
    steps = existing(runbook)
    data = form_data(steps, runbook)
    data["steps-1-param__ask_user__reminders_after_hours"] = typed

    response = author_client.post(change_url(runbook), data)

    assert response.status_code == 302, step_form_errors(response, 1)
    assert runbook.steps.get(position=1).params["reminders_after_hours"] == stored


@pytest.mark.parametrize("typed", ["4 h", "0", "-4", "1.5", "soon"])
def test_reminders_that_are_not_whole_hours_show_beside_the_field(author_client, runbook, typed):
    data = form_data(existing(runbook), runbook)
    data["steps-1-param__ask_user__reminders_after_hours"] = typed

    response = author_client.post(change_url(runbook), data)

    assert response.status_code == 200
    assert step_form_errors(response, 1)["param__ask_user__reminders_after_hours"]
    runbook.refresh_from_db()
    assert runbook.version == 1


def test_an_analyst_reads_the_parameters_by_their_labels(analyst_client, runbook):
    page = analyst_client.get(change_url(runbook)).content.decode()

    assert "Deadline after (hours)" in page and "<dd>72</dd>" in page
    assert "Yes, that was me (yes); No (no)" in page
    assert 'name="steps-0-param__create_task__title"' not in page


def add_steps(to: Runbook, count: int) -> None:
    start = to.steps.count()
    RunbookStep.objects.bulk_create(
        RunbookStep(runbook=to, position=start + i, action=NOTE_YES["action"],
                    guard="answer_in", guard_outcomes=["yes"], params=NOTE_YES["params"])
        for i in range(count)
    )  # fmt: skip


def test_the_page_makes_as_many_queries_for_many_steps_as_for_few(author_client, runbook):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert author_client.get(change_url(runbook)).status_code == 200
        return len(captured)

    few = queries()
    add_steps(runbook, 20)

    assert queries() == few


def test_a_question_with_more_options_than_the_form_offers_keeps_them_all(form):
    widget = form.fields["param__ask_user__options"].widget
    many = [{"key": f"k{i}", "label": f"Option {i}"} for i in range(15)]
    html = widget.render("o", many, {"id": "id_o"})
    posted = {f"o-key-{i}": o["key"] for i, o in enumerate(many)}
    posted |= {f"o-label-{i}": o["label"] for i, o in enumerate(many)}

    assert html.count('name="o-key-') == 15
    assert widget.value_from_datadict(posted, {}, "o") == many
