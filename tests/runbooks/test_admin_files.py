"""Runbook YAML files from the runbook list: upload to import (the command's validation,
all or nothing, a version in History), download one runbook or the selection."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from runbooks.admin_files import MAX_RUNBOOK_FILE_BYTES
from runbooks.files import SHIPPED_RUNBOOKS_DIR, runbook_export
from runbooks.models import Runbook, RunbookStep
from runbooks.params import DETAILS_HINT, PLACEHOLDERS
from tests.admin_history import admin_history
from tests.factories import UserFactory

IMPORT_URL = reverse("admin:runbooks_runbook_import")
CHANGELIST = reverse("admin:runbooks_runbook_changelist")
FAILED_SIGN_INS = (SHIPPED_RUNBOOKS_DIR / "failed-sign-ins.yaml").read_text()
SUSPICIOUS_DOWNLOAD = (SHIPPED_RUNBOOKS_DIR / "suspicious-download.yaml").read_text()


def upload(client, text: str | bytes, name: str = "runbook.yaml"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT_URL, {"file": SimpleUploadedFile(name, data)})


def problems(response) -> list[str]:
    """What the page lists: the file's problems, or the upload field's own (an empty file)."""
    assert response.status_code == 200
    field_errors = response.context["form"].errors.get("file", [])
    return response.context["errors"] or list(field_errors)


def database_state() -> tuple:
    return (
        sorted(Runbook.objects.values_list("name", "version")),
        RunbookStep.objects.count(),
        [runbook_export(runbook) for runbook in Runbook.objects.all()],
    )


# --- import -----------------------------------------------------------------------------


def test_an_author_imports_a_new_runbook_as_version_1_recorded_in_history(author_client):
    response = upload(author_client, FAILED_SIGN_INS, "failed-sign-ins.yaml")

    assert response.status_code == 302 and response.url == CHANGELIST
    runbook = Runbook.objects.get(name="Failed sign-ins")
    assert runbook.version == 1 and runbook_export(runbook) == FAILED_SIGN_INS
    action, _user, message = admin_history(runbook)[-1]
    assert action == "added"
    assert message.startswith("Imported from failed-sign-ins.yaml (uploaded) (")
    assert message.endswith(", version 1)")
    page = author_client.get(CHANGELIST).content.decode()
    assert "Imported Failed sign-ins (version 1)." in page


def test_importing_a_changed_file_makes_a_new_version_in_history(author_client, shipped):
    changed = FAILED_SIGN_INS.replace("deadline_hours: 24", "deadline_hours: 48")

    response = upload(author_client, changed, "edited.yaml")

    assert response.status_code == 302
    runbook = Runbook.objects.get(name="Failed sign-ins")
    assert runbook.version == 2
    assert runbook.steps.get(position=2).params["deadline_hours"] == 48
    assert admin_history(runbook)[-1][2].startswith("Imported from edited.yaml (uploaded)")


def test_an_invalid_file_lists_problems_per_step_and_field_and_saves_nothing(
    author_client, shipped
):
    broken = (
        FAILED_SIGN_INS.replace("deadline_hours: 24", "deadline_hours: soon")
        .replace("title: Reset the credentials of {person_name}", "title: Reset {nope}")
        .replace("- 'yes'\n  params:\n    text:", "- 'maybe'\n  params:\n    text:", 1)
    )
    before = database_state()

    response = upload(author_client, broken)

    assert problems(response) == [
        "step 2, params.deadline_hours: must be a whole number, 0 or more",
        "step 4, if: 'maybe' is not an option of the question before it (options: no, yes)",
        "step 6, params.title: unknown placeholder {nope}; known: "
        + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        + DETAILS_HINT,
    ]
    assert "Nothing was imported" in response.content.decode()
    assert database_state() == before


HOSTILE = {
    "a billion laughs": "\n".join(
        ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
        + [
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ]
        + ["name: *i", "steps: *i"]
    ),
    "an alias as the action": "x: &x create_task\nname: A\nsteps:\n- action: *x\n",
    "deep nesting": "name: A\nsteps: " + "[" * 5000 + "]" * 5000 + "\n",
    "steps as text": "name: A\nsteps: lots\n",
    "a name that is a list": "name: [1, 2]\nsteps:\n- action: add_note\n",
    "params as a list": "name: A\nsteps:\n- action: add_note\n  params: [text]\n",
    "options as text": "name: A\nsteps:\n- action: ask_user\n  params: {options: yes}\n",
    "an action that is a mapping": "name: A\nsteps:\n- action: {x: 1}\n",
    "a number as the document": "42\n",
    "not YAML at all": "name: [unclosed\n",
    "a python tag": "name: !!python/object/apply:os.system ['true']\nsteps: []\n",
    "an empty file": "",
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_or_malformed_file_is_refused_with_a_message_never_a_500(author_client, text):
    response = upload(author_client, text)

    assert problems(response)
    assert not Runbook.objects.filter(name="A").exists()


def test_aliases_are_refused_by_name(author_client):
    response = upload(author_client, HOSTILE["a billion laughs"])

    (problem,) = problems(response)
    assert problem.startswith(
        "file: not valid YAML: anchors and aliases (*name) are not allowed\n"
        '  in "<unicode string>", line 2, column 8'
    )


def test_a_huge_file_is_refused_unread(author_client):
    huge = "name: A\ndescription: " + "x" * MAX_RUNBOOK_FILE_BYTES + "\n"

    response = upload(author_client, huge)

    assert problems(response) == ["file: larger than 256 KB; is it a runbook file?"]


def test_a_file_that_is_not_utf8_is_refused(author_client):
    assert problems(upload(author_client, b"name: \xff\xfe\n")) == [
        "file: not UTF-8 text; is it a runbook file?"
    ]


def test_a_file_of_several_runbooks_imports_all_or_none(author_client):
    broken = SUSPICIOUS_DOWNLOAD.replace("action: ", "action: no_such_", 1)

    refused = upload(author_client, FAILED_SIGN_INS + "---\n" + broken)
    assert problems(refused)[0].startswith("runbook 2, step 1, action: unknown action")
    assert not Runbook.objects.exists()

    imported = upload(author_client, FAILED_SIGN_INS + "---\n" + SUSPICIOUS_DOWNLOAD)
    assert imported.status_code == 302
    assert sorted(Runbook.objects.values_list("name", "version")) == [
        ("Failed sign-ins", 1),
        ("Suspicious file download", 1),
    ]


# --- export -----------------------------------------------------------------------------


def test_an_author_downloads_one_runbook_as_its_file(author_client, shipped):
    runbook = shipped["Failed sign-ins"]

    response = author_client.get(reverse("admin:runbooks_runbook_export", args=[runbook.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="failed-sign-ins.yaml"'
    assert response.content.decode() == FAILED_SIGN_INS
    page = author_client.get(reverse("admin:runbooks_runbook_change", args=[runbook.pk]))
    assert reverse("admin:runbooks_runbook_export", args=[runbook.pk]) in page.content.decode()


def test_the_selection_downloads_as_one_file_that_imports_back_unchanged(author_client, shipped):
    chosen = [shipped["Failed sign-ins"].pk, shipped["Suspicious file download"].pk]
    before = database_state()

    response = author_client.post(
        CHANGELIST, {"action": "download_yaml", "_selected_action": chosen}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="runbooks.yaml"'
    text = response.content.decode()
    assert text == FAILED_SIGN_INS + "---\n" + SUSPICIOUS_DOWNLOAD
    assert upload(author_client, text).status_code == 302
    assert database_state() == before  # the same runbooks: no new version


def test_a_downloaded_runbook_round_trips_through_a_fresh_database(author_client, shipped):
    runbook = shipped["Suspicious file download"]
    text = author_client.get(
        reverse("admin:runbooks_runbook_export", args=[runbook.pk])
    ).content.decode()
    runbook.delete()

    assert upload(author_client, text).status_code == 302

    assert runbook_export(Runbook.objects.get(name=runbook.name)) == text


# --- permissions ------------------------------------------------------------------------


def test_an_analyst_downloads_but_cannot_import(analyst_client, shipped):
    runbook = shipped["Failed sign-ins"]
    changelist = analyst_client.get(CHANGELIST).content.decode()

    assert IMPORT_URL not in changelist
    assert analyst_client.get(IMPORT_URL).status_code == 403
    assert upload(analyst_client, FAILED_SIGN_INS.replace("24", "48")).status_code == 403
    assert Runbook.objects.get(pk=runbook.pk).version == 1
    export = reverse("admin:runbooks_runbook_export", args=[runbook.pk])
    assert analyst_client.get(export).content.decode() == FAILED_SIGN_INS


def test_an_author_sees_the_import_link(author_client):
    assert IMPORT_URL in author_client.get(CHANGELIST).content.decode()
    assert author_client.get(IMPORT_URL).status_code == 200


def test_staff_without_runbook_permissions_get_403(client, shipped):
    client.force_login(UserFactory(is_staff=True))
    runbook = shipped["Failed sign-ins"]

    assert (
        client.get(reverse("admin:runbooks_runbook_export", args=[runbook.pk])).status_code == 403
    )
    assert client.get(IMPORT_URL).status_code == 403
