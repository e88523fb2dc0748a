"""Runbook texts written in several languages: validation, files, the run's snapshot, the
task texts, and the admin form."""

import pytest
from django.urls import reverse

from core.actors import Actor
from runbooks.actions import validate_params
from runbooks.definitions import runbook_definition
from runbooks.files import RunbookFileError, runbook_export, runbook_import
from runbooks.models import Runbook, RunbookRun
from tests.builders.runbook_forms import form_data
from tests.factories import category, open_incident

AUTHOR = Actor.system("tests")
OPTIONS = [
    {"key": "yes", "label": {"en": "Yes", "de": "Ja"}},
    {"key": "no", "label": "No"},
]
ASK = {
    "action": "ask_user",
    "params": {
        "question": {"en": "Was it you, {first_name}?", "de": "Waren Sie das, {first_name}?"},
        "options": OPTIONS,
    },
}


def ask_errors(**params) -> dict[str, str]:
    return validate_params("ask_user", {"question": "Was it you?", "options": OPTIONS} | params)[1]


def test_a_text_may_be_plain_or_written_per_language_and_keeps_the_languages_order():
    cleaned, errors = validate_params(
        "ask_user",
        {"question": {"it": "Era Lei?", "en": "Was it you?", "de": "Waren Sie das?"},
         "options": OPTIONS, "subject": "Sign-in"},
    )  # fmt: skip

    assert errors == {}
    assert list(cleaned["question"]) == ["en", "de", "it"]
    assert cleaned["subject"] == "Sign-in"
    assert cleaned["options"][0]["label"] == {"en": "Yes", "de": "Ja"}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"question": {"pt": "Foi você?"}}, {"question": "unknown language 'pt'; known: "
                                             "en, de, fr, es, nl, it"}),
        ({"question": {"en": "Was it you?", "de": " "}}, {"question": "the de text must be "
                                                           "non-empty text"}),
        ({"question": {}}, {"question": "give the text in at least one language (en, de, fr, "
                                        "es, nl, it)"}),
        ({"question": {"en": "Hi {first_name}", "de": "Hallo {vorname}"}},
         {"question": "de: unknown placeholder {vorname}; known: {incident_number}, "
                      "{incident_short_description}, {first_name}, {person_name}, "
                      "{asked_name}, {asked_as}, "
                      "{answer_key}, {answer_label}, {answer_channel}, {task_number}, "
                      "{runbook_name}; and {details.<name>} for a field of what happened, "
                      "e.g. {details.source_ip}"}),
        ({"body": ["not", "text"]}, {"body": "must be text, or a mapping of language code "
                                             "to text"}),
        ({"options": [{"key": "yes", "label": {"xx": "Ja"}}, {"key": "no", "label": "No"}]},
         {"options": "option 'yes', label: unknown language 'xx'; known: en, de, fr, es, nl, "
                     "it"}),
    ],
)  # fmt: skip
def test_each_language_is_checked(params, error):
    assert ask_errors(**params) == error


def test_task_texts_are_translatable_and_notes_are_not():
    _, task_errors = validate_params("create_task", {"title": {"en": "Call", "de": "Anrufen"}})
    _, note_errors = validate_params("add_note", {"text": {"en": "Noted"}})

    assert task_errors == {}
    assert note_errors == {"text": "must be text"}


# --- files and snapshots ----------------------------------------------------------------

FILE = """\
name: Sign-in check
description: ''
language: de
active: true
trigger: incident.opened
conditions:
  categories:
  - failed-login
  min_priority: null
steps:
- action: create_task
  params:
    title:
      en: Call the user
      de: Den Benutzer anrufen
- action: ask_user
  params:
    question:
      en: Was it you, {first_name}?
      de: Waren Sie das, {first_name}?
    options:
    - key: 'yes'
      label:
        en: 'Yes'
        de: Ja
    - key: 'no'
      label: Nein
    relate_to: incident
    request_evidence: false
    reminders_after_hours: [24]
    deadline_hours: 72
    away_max_days: 3
    target: affected
"""


def test_a_file_with_translations_and_a_language_round_trips(db):
    category("failed-login")

    runbook = runbook_import(FILE, actor=AUTHOR, source="test.yaml")

    assert runbook.language == "de"
    assert runbook_export(runbook) == FILE
    assert runbook_definition(runbook)["language"] == "de"


def test_a_file_with_an_unknown_language_is_refused(db):
    with pytest.raises(RunbookFileError) as error:
        runbook_import(FILE.replace("language: de", "language: pt"), actor=AUTHOR, source="x")

    assert error.value.problems == [
        "language: unknown language 'pt'; known: en, de, fr, es, nl, it"
    ]


def test_a_run_takes_its_tasks_in_the_runbooks_language(db, bob, committed):
    category("failed-login")
    runbook_import(FILE, actor=AUTHOR, source="test.yaml")
    bob.language = "en"
    bob.save()

    incident = committed(open_incident, category=category("failed-login"), affected_user=bob)

    run = RunbookRun.objects.get(incident=incident)
    assert (run.state, run.error) == ("waiting", "")
    assert run.definition["language"] == "de"
    assert list(incident.tasks.values_list("title", flat=True)) == ["Den Benutzer anrufen"]
    waiting = incident.timeline.get(kind="runbook.waiting")
    # Without email (the generic ask_user) the question is noted in the runbook's language.
    assert waiting.summary.endswith("to answer: Waren Sie das, Bob?")
    assert waiting.body == "Options: Ja, Nein"


# --- the admin form ---------------------------------------------------------------------


def test_the_step_form_shows_the_default_language_first_and_the_others_folded(author_client, db):
    category("failed-login")
    runbook = runbook_import(FILE, actor=AUTHOR, source="test.yaml")

    html = author_client.get(reverse("admin:runbooks_runbook_change", args=[runbook.pk]))
    html = html.content.decode()

    field = "steps-1-param__ask_user__question"
    assert (
        f'<textarea name="{field}" id="id_{field}" rows="2" class="step-text" lang="de">'
        "Waren Sie das, {first_name}?</textarea>" in html
    )
    assert f'<input type="hidden" name="{field}-main" value="de">' in html
    assert f'name="{field}-en"' in html and "Other languages (1 of 5 written)" in html
    assert 'name="steps-1-param__ask_user__options-label-0-en" ' in html


def test_saving_a_runbook_as_the_page_shows_it_keeps_every_language(author_client, db):
    category("failed-login")
    runbook = runbook_import(FILE, actor=AUTHOR, source="test.yaml")
    steps = [
        {"id": step.pk, "action": step.action, "params": step.params}
        for step in runbook.steps.order_by("position")
    ]
    data = form_data(steps, runbook)
    question = "steps-1-param__ask_user__question"
    # The form posts the default language in the field itself and says which it is.
    data |= {question: "Waren Sie das, {first_name}?", f"{question}-main": "de"}
    data[f"{question}-en"] = "Was it you, {first_name}?"
    data.pop(f"{question}-de", None)
    data[f"{question}-fr"] = "Était-ce vous, {first_name} ?"

    response = author_client.post(reverse("admin:runbooks_runbook_change", args=[runbook.pk]), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    ask = Runbook.objects.get(pk=runbook.pk).steps.get(action="ask_user")
    assert ask.params["question"] == {
        "en": "Was it you, {first_name}?",
        "de": "Waren Sie das, {first_name}?",
        "fr": "Était-ce vous, {first_name} ?",
    }
