"""Runbooks as YAML files: canonical export, all-or-nothing import, the runbooks command."""

from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from core.actors import Actor
from runbooks.definitions import runbook_definition
from runbooks.files import (
    SHIPPED_RUNBOOKS_DIR,
    RunbookFileError,
    import_shipped_runbooks,
    runbook_export,
    runbook_import,
)
from runbooks.models import Guard, Runbook, RunbookRun, RunbookStep
from runbooks.versions import runbook_set_steps
from tests.admin_history import admin_history
from tests.factories import category, open_incident

SHIPPED_FILES = sorted(SHIPPED_RUNBOOKS_DIR.glob("*.yaml"))
FAILED_SIGN_INS = SHIPPED_RUNBOOKS_DIR / "failed-sign-ins.yaml"
AUTHOR = Actor.system("tests")


def edited(text: str, old: str, new: str) -> str:
    """The text with `old` (which must occur exactly once) replaced."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def database_state() -> tuple:
    return (
        Runbook.objects.count(),
        RunbookStep.objects.count(),
        sorted(Runbook.objects.values_list("name", "version")),
        [runbook_export(runbook) for runbook in Runbook.objects.all()],
    )


@pytest.mark.parametrize("path", SHIPPED_FILES, ids=lambda path: path.name)
def test_each_shipped_file_is_canonical_and_round_trips_byte_for_byte(db, path: Path):
    text = path.read_text(encoding="utf-8")

    runbook = runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert runbook.version == 1
    assert runbook_export(runbook) == text


def test_a_runbook_built_in_code_exports_imports_and_exports_the_same(db):
    runbook = Runbook.objects.create(
        name="Lost laptop (Gerät vermisst)", description="Ask, then act.", min_priority=2
    )
    runbook.categories.set([category("phishing"), category("failed-login")])
    runbook_set_steps(
        runbook=runbook,
        steps=[
            {"action": "create_task", "params": {"title": "Locate the device"}},
            {
                "action": "ask_user",
                "params": {
                    "question": "Where is your laptop?",
                    "options": [
                        {"key": "on", "label": "With me"},
                        {"key": "lost", "label": "Lost or stolen"},
                    ],
                    "deadline_hours": 8,
                },
            },
            {"action": "complete_task", "guard": Guard.ANSWER_IN, "outcomes": ["on"]},
            {
                "action": "add_note",
                "guard": Guard.ANSWER_NOT_IN,
                "outcomes": ["on", "unrecognised"],
                "params": {"text": "{person_name} answered: {answer_label}"},
            },
            {"action": "assign", "guard": Guard.NO_ANSWER, "params": {"group": "SOC Tier 2"}},
        ],
    )
    text = runbook_export(runbook)
    runbook.delete()

    imported = runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert runbook_export(imported) == text
    assert imported.version == 1
    assert imported.min_priority == 2
    assert sorted(c.slug for c in imported.categories.all()) == ["failed-login", "phishing"]
    assert "name: Lost laptop (Gerät vermisst)\n" in text  # readable, not \xE4-escaped
    assert "key: 'on'" in text  # a YAML boolean word stays quoted
    assert "conditions:\n  categories:\n  - failed-login\n  - phishing\n" in text
    assert "if: no_answer" in text


# Each case edits the shipped "Failed sign-ins" file into a bad one.
BAD_FILES = {
    "an unknown action": (
        ("- action: add_note\n  if:\n    answer_in:\n    - 'yes'", "- action: send_fax\n  if:\n"
         "    answer_in:\n    - 'yes'"),
        "step 4, action: unknown action 'send_fax'",
    ),
    "a bad guard": (
        ("  if:\n    answer_in:\n    - 'yes'\n", "  if: maybe\n"),
        "step 4, if: unknown guard 'maybe'",
    ),
    "an if mapping with another key": (
        ("    answer_in:\n    - 'yes'\n", "    answer_is:\n    - 'yes'\n"),
        "step 4, if: must be one of",
    ),
    "a missing required parameter": (
        ("    title: Reset the credentials of {person_name}\n", ""),
        "step 6, params.title: required",
    ),
    "an answer_in key that is not an option of the question": (
        ("    - 'no'\n  params:\n    text:", "    - maybe\n  params:\n    text:"),
        "step 5, if: 'maybe' is not an option of the question before it",
    ),
    "an unquoted yes as option key": (
        ("    - key: 'yes'\n      label:\n        en: Yes, that was me\n",
         "    - key: yes\n      label:\n        en: Yes, that was me\n"),
        "step 2, params.options: an option key read as true/false",
    ),
    "an unquoted yes in answer_in": (
        ("    - 'yes'\n  params:\n    text:", "    - yes\n  params:\n    text:"),
        "step 4, if: answer_in: an option key read as true/false",
    ),
    "an unknown category": (
        ("  - failed-login\n", "  - phone-fraud\n"),
        "conditions.categories: unknown category 'phone-fraud'",
    ),
    "an unknown top-level key": (
        ("active: true\n", "active: true\nowner: alice\n"),
        "owner: unknown key",
    ),
    "a priority out of range": (
        ("  min_priority: null\n", "  min_priority: 5\n"),
        "conditions.min_priority: must be 1 (critical) to 4 (low), or null",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("edit", "problem"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_naming_the_step_and_field_and_nothing_changes(
    shipped, edit, problem
):
    text = edited(FAILED_SIGN_INS.read_text(encoding="utf-8"), *edit)
    before = database_state()

    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert problem in str(refused.value)
    assert database_state() == before
    assert shipped["Failed sign-ins"].steps.count() == 7


def test_a_bad_file_for_a_new_runbook_creates_nothing(shipped):
    text = edited(FAILED_SIGN_INS.read_text(encoding="utf-8"), "Failed sign-ins", "New one")
    text = edited(text, "    title: Reset the credentials of {person_name}\n", "")
    before = database_state()

    with pytest.raises(RunbookFileError):
        runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert database_state() == before
    assert not Runbook.objects.filter(name="New one").exists()


def test_every_problem_in_a_file_is_reported_at_once_in_file_order(db):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    text = edited(text, "    title: Reset the credentials of {person_name}\n", "")
    text = edited(text, "  if:\n    answer_in:\n    - 'yes'\n", "  if: maybe\n")
    text = edited(text, "  - failed-login\n", "  - phone-fraud\n")

    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="test.yaml")

    problems = refused.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "conditions.categories",
        "step 4, if",
        "step 6, params.title",
    ]
    assert Runbook.objects.count() == 0


def test_a_question_with_bad_options_is_reported_once_not_again_at_each_guard(db):
    text = edited(
        FAILED_SIGN_INS.read_text(encoding="utf-8"),
        "    - key: 'no'\n      label:\n        en: No, that was not me\n",
        "    - key: no\n      label:\n        en: No, that was not me\n",
    )

    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert refused.value.problems == [
        'step 2, params.options: an option key read as true/false: quote it, e.g. key: "yes"'
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- just\n- a list\n", "file: must be a mapping"),
        ("name: [unclosed\n", "file: not valid YAML"),
        ("name: Empty\nsteps: []\n", "steps: a runbook needs at least one step"),
    ],
)
def test_a_file_that_is_not_a_runbook_at_all_is_refused(db, text, problem):
    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert problem in str(refused.value)


def test_reimporting_changed_content_updates_the_runbook_and_keeps_run_snapshots(shipped):
    runbook = shipped["Failed sign-ins"]
    snapshot = runbook_definition(runbook)
    run = RunbookRun.objects.create(
        runbook=runbook, version=runbook.version, definition=snapshot, incident=open_incident()
    )
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    text = edited(text, "reminders_after_hours: [4, 12]", "reminders_after_hours: [2]")
    text = edited(text, "active: true", "active: false")
    text = edited(text, "  - failed-login\n  min_priority: null", "  - phishing\n  min_priority: 2")

    updated = runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert updated.pk == runbook.pk
    assert updated.version == 2
    assert runbook_export(updated) == text
    assert updated.steps.get(position=2).params["reminders_after_hours"] == [2]
    assert (updated.active, updated.min_priority) == (False, 2)
    assert [c.slug for c in updated.categories.all()] == ["phishing"]
    run.refresh_from_db()
    assert (run.version, run.definition) == (1, snapshot)
    assert run.steps[1]["params"]["reminders_after_hours"] == [4, 12]


def test_reimporting_an_unchanged_file_keeps_the_version(shipped):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")

    runbook = runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert runbook.version == 1
    assert RunbookStep.objects.filter(runbook=runbook).count() == 7


def test_a_hand_written_file_is_normalised_on_export(db):
    text = (
        "name: Minimal\n"
        "steps:\n"
        "- action: create_task\n"
        "  if: always\n"
        "  params: {title: Look into it, description: ''}\n"
    )

    runbook = runbook_import(text, actor=AUTHOR, source="test.yaml")

    assert runbook_export(runbook) == (
        "name: Minimal\n"
        "description: ''\n"
        "language: en\n"
        "active: true\n"
        "trigger: incident.opened\n"
        "conditions:\n"
        "  categories: []\n"
        "  min_priority: null\n"
        "steps:\n"
        "- action: create_task\n"
        "  params:\n"
        "    title: Look into it\n"
    )


# --- the runbooks command ---------------------------------------------------------------


def test_the_command_prints_all_runbooks_as_one_yaml_stream(shipped):
    out = StringIO()

    call_command("runbooks", "export", stdout=out)

    documents = out.getvalue().split("---\n")
    assert documents == [runbook_export(r) for r in Runbook.objects.all()]
    assert [d["name"] for d in yaml.safe_load_all(out.getvalue())] == [
        "Failed sign-ins",
        "Phishing recipients",
        "Suspicious file download",
    ]


def test_the_command_writes_one_file_per_named_runbook(shipped, tmp_path):
    call_command(
        "runbooks",
        "export",
        "Failed sign-ins",
        "--output",
        str(tmp_path / "out"),
        stdout=StringIO(),
    )

    assert [p.name for p in (tmp_path / "out").iterdir()] == ["failed-sign-ins.yaml"]
    written = (tmp_path / "out" / "failed-sign-ins.yaml").read_text(encoding="utf-8")
    assert written == FAILED_SIGN_INS.read_text(encoding="utf-8")


def test_the_command_refuses_to_export_an_unknown_runbook(shipped):
    with pytest.raises(CommandError, match="No runbook named 'Nope'"):
        call_command("runbooks", "export", "Nope", stdout=StringIO())


def test_the_command_imports_files(db, tmp_path):
    paths = []
    for shipped_file in SHIPPED_FILES:
        paths.append(tmp_path / shipped_file.name)
        paths[-1].write_text(shipped_file.read_text(encoding="utf-8"), encoding="utf-8")
    out = StringIO()

    call_command("runbooks", "import", *map(str, paths), stdout=out)

    assert sorted(Runbook.objects.values_list("name", "version")) == [
        ("Failed sign-ins", 1),
        ("Phishing recipients", 1),
        ("Suspicious file download", 1),
    ]
    assert "Failed sign-ins (version 1)" in out.getvalue()
    assert admin_history(Runbook.objects.get(name="Failed sign-ins")) == [
        (
            "added",
            "system:commands",
            f"Imported from {paths[0]} (manage.py runbooks import, version 1)",
        )
    ]


def test_the_command_imports_nothing_when_any_file_is_bad(db, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(FAILED_SIGN_INS.read_text(encoding="utf-8"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    text = edited(FAILED_SIGN_INS.read_text(encoding="utf-8"), "Failed sign-ins", "Bad")
    bad.write_text(text.replace("action: add_note", "action: send_fax"), encoding="utf-8")
    err = StringIO()

    with pytest.raises(CommandError, match="no runbook was imported"):
        call_command("runbooks", "import", str(good), str(bad), stdout=StringIO(), stderr=err)

    assert f"{bad}: step 4, action: unknown action 'send_fax'" in err.getvalue()
    assert f"{bad}: step 5, action: unknown action 'send_fax'" in err.getvalue()
    assert Runbook.objects.count() == 0


def test_an_import_is_recorded_in_the_runbooks_admin_history(db):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    runbook = runbook_import(text, actor=AUTHOR, source="mine.yaml")
    runbook_import(text, actor=AUTHOR, source="mine.yaml")  # unchanged: not a new version

    runbook_import(edited(text, "active: true", "active: false"), actor=AUTHOR, source="v2.yaml")

    assert admin_history(runbook) == [
        ("added", "system:commands", "Imported from mine.yaml (tests, version 1)"),
        ("changed", "system:commands", "Imported from v2.yaml (tests, version 2)"),
    ]
    assert not get_user_model().objects.get(username="system:commands").has_usable_password()


def test_an_import_by_a_person_is_recorded_as_theirs(db, analyst):
    runbook = runbook_import(
        FAILED_SIGN_INS.read_text(encoding="utf-8"), actor=Actor.analyst(analyst), source="f.yaml"
    )

    assert admin_history(runbook) == [
        ("added", "alice", "Imported from f.yaml (Alice Analyst, version 1)")
    ]


# --- the shipped library ----------------------------------------------------------------


def test_the_shipped_library_is_installed_when_absent_and_recorded(db):
    runbooks = import_shipped_runbooks()

    assert [(r.name, r.version) for r in runbooks] == [
        ("Failed sign-ins", 1),
        ("Phishing recipients", 1),
        ("Suspicious file download", 1),
    ]
    assert admin_history(runbooks[0]) == [
        (
            "added",
            "system:commands",
            "Imported from runbooks/library/failed-sign-ins.yaml "
            "(installed with the app, version 1)",
        )
    ]


def test_installing_the_shipped_library_again_never_replaces_an_existing_runbook(shipped):
    text = edited(
        FAILED_SIGN_INS.read_text(encoding="utf-8"),
        "reminders_after_hours: [4, 12]",
        "reminders_after_hours: [2]",
    )
    runbook_import(text, actor=AUTHOR, source="mine.yaml")
    before = database_state()

    again = {r.name: r for r in import_shipped_runbooks()}

    assert database_state() == before
    assert again["Failed sign-ins"].version == 2
    assert runbook_export(again["Failed sign-ins"]) == text


@pytest.fixture
def upgradable(shipped) -> str:
    """The author edited "Failed sign-ins" (version 2), and "Phishing recipients" is gone;
    returns the edited text."""
    text = edited(
        FAILED_SIGN_INS.read_text(encoding="utf-8"),
        "reminders_after_hours: [4, 12]",
        "reminders_after_hours: [2]",
    )
    runbook_import(text, actor=AUTHOR, source="mine.yaml")
    shipped["Phishing recipients"].delete()
    return text


def upgrade(*args: str) -> str:
    out = StringIO()
    call_command("runbooks", "upgrade", *args, stdout=out)
    return out.getvalue()


def test_upgrade_shows_each_shipped_runbook_with_a_diff_and_changes_nothing(upgradable):
    before = database_state()

    shown = upgrade()

    assert database_state() == before
    assert (
        "Failed sign-ins (runbooks/library/failed-sign-ins.yaml): differs from the installed "
        "version 2\n"
        "--- installed: Failed sign-ins (version 2)\n"
        "+++ shipped: runbooks/library/failed-sign-ins.yaml\n"
    ) in shown
    assert "\n-    reminders_after_hours: [2]\n+    reminders_after_hours: [4, 12]\n" in shown
    assert "Phishing recipients (runbooks/library/phishing-recipients.yaml): absent" in shown
    assert (
        "Suspicious file download (runbooks/library/suspicious-download.yaml): identical to "
        "the installed version 1"
    ) in shown
    assert "manage.py runbooks upgrade --apply 'Failed sign-ins' 'Phishing recipients'" in shown


def test_upgrade_shows_only_the_runbooks_named(upgradable):
    shown = upgrade("Suspicious file download")

    assert shown == (
        "Suspicious file download (runbooks/library/suspicious-download.yaml): identical to "
        "the installed version 1\n"
    )


def test_upgrade_apply_replaces_and_installs_the_named_runbooks_as_new_versions(upgradable):
    applied = upgrade("--apply", "Failed sign-ins", "Phishing recipients")

    runbooks = {r.name: r for r in Runbook.objects.all()}
    assert {name: r.version for name, r in runbooks.items()} == {
        "Failed sign-ins": 3,
        "Phishing recipients": 1,
        "Suspicious file download": 1,
    }
    for shipped_file in SHIPPED_FILES:
        name = yaml.safe_load(shipped_file.read_text(encoding="utf-8"))["name"]
        assert runbook_export(runbooks[name]) == shipped_file.read_text(encoding="utf-8")
    assert admin_history(runbooks["Failed sign-ins"])[-1] == (
        "changed",
        "system:commands",
        "Imported from runbooks/library/failed-sign-ins.yaml "
        "(manage.py runbooks upgrade, version 3)",
    )
    assert applied == (
        "Failed sign-ins: replaced from runbooks/library/failed-sign-ins.yaml (version 3)\n"
        "Phishing recipients: installed from runbooks/library/phishing-recipients.yaml "
        "(version 1)\n"
    )
    assert "identical" in upgrade("Failed sign-ins")


def test_upgrade_apply_needs_the_names_of_the_runbooks_to_replace(upgradable):
    before = database_state()

    with pytest.raises(CommandError) as refused:
        upgrade("--apply")

    assert str(refused.value) == (
        "Name the runbooks to install or replace, e.g. "
        "manage.py runbooks upgrade --apply 'Failed sign-ins' 'Phishing recipients'"
    )

    assert database_state() == before


def test_upgrade_apply_with_nothing_to_apply_says_so(shipped):
    assert upgrade("--apply") == "Every shipped runbook is installed as shipped; nothing to do.\n"


def test_install_adds_the_absent_shipped_runbooks_and_keeps_an_edited_one(upgradable):
    out = StringIO()
    call_command("runbooks", "install", stdout=out)

    runbooks = {r.name: r for r in Runbook.objects.all()}
    assert {name: r.version for name, r in runbooks.items()} == {
        "Failed sign-ins": 2,
        "Phishing recipients": 1,
        "Suspicious file download": 1,
    }
    assert runbook_export(runbooks["Failed sign-ins"]) == upgradable
    assert out.getvalue() == (
        "Failed sign-ins: kept\n"
        "Phishing recipients: installed (version 1)\n"
        "Suspicious file download: kept\n"
    )
    assert admin_history(runbooks["Phishing recipients"])[-1][1] == "system:commands"


def test_upgrade_refuses_a_name_that_is_not_shipped(upgradable):
    with pytest.raises(CommandError, match="No shipped runbook named 'Nope'; shipped: "):
        upgrade("--apply", "Nope")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x: &x add_note\nname: A\nsteps:\n- action: *x\n", "anchors and aliases"),
        ("name: A\nsteps: " + "[" * 5000 + "]" * 5000, "nested deeper than 20 levels"),
        ("name: A\nsteps:\n- action: {x: 1}\n", "step 1, action: must be the name of an action"),
    ],
)
def test_the_command_refuses_aliases_deep_nesting_and_odd_types_as_problems(db, text, problem):
    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="hostile.yaml")

    assert problem in str(refused.value)
    assert not Runbook.objects.exists()


def test_a_file_with_the_older_single_reminder_imports_as_a_list_of_hours(db):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    text = edited(text, "reminders_after_hours: [4, 12]", "reminder_after_hours: 4")

    runbook = runbook_import(text, actor=AUTHOR, source="old.yaml")

    assert runbook.steps.get(position=2).params["reminders_after_hours"] == [4]
    assert "reminders_after_hours: [4]\n" in runbook_export(runbook)
    assert "reminder_after_hours" not in runbook_export(runbook)


@pytest.mark.parametrize(
    ("written", "stored"),
    [("reminder_after_hours: 0", []), ("reminders_after_hours: []", []),
     ("reminders_after_hours: [24, 4, 4]", [4, 24])],
)  # fmt: skip
def test_reminder_hours_are_read_in_order_and_none_stays_none(db, written, stored):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    text = edited(text, "reminders_after_hours: [4, 12]", written)

    runbook = runbook_import(text, actor=AUTHOR, source="old.yaml")

    assert runbook.steps.get(position=2).params["reminders_after_hours"] == stored


@pytest.mark.parametrize(
    "written", ["reminders_after_hours: [0]", "reminders_after_hours: [yes]",
                "reminders_after_hours: four", "reminders_after_hours: [1.5]"],
)  # fmt: skip
def test_reminder_hours_that_are_not_whole_hours_are_refused(db, written):
    text = FAILED_SIGN_INS.read_text(encoding="utf-8")
    text = edited(text, "reminders_after_hours: [4, 12]", written)

    with pytest.raises(RunbookFileError) as refused:
        runbook_import(text, actor=AUTHOR, source="bad.yaml")

    assert "step 2, params.reminders_after_hours:" in str(refused.value)
