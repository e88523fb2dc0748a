import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from incidents.models import Evidence, Person, ResponseTask, SecurityIncident, TimelineEntry
from runbooks.models import Runbook
from tests.rendered_forms import form_as_posted


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Person, SecurityIncident, ResponseTask, TimelineEntry, Evidence)
    )


@pytest.fixture
def debug(settings):
    settings.DEBUG = True  # pytest-django runs every test with DEBUG off


def test_the_demo_loads_a_directory_logins_and_incidents_and_can_run_again(db, debug, capsys):
    call_command("demo")
    first = counts()
    first_output = capsys.readouterr().out
    call_command("demo")
    second_output = capsys.readouterr().out

    assert counts() == first
    assert first[1] == 4
    assert "SIR0001001" in first_output and "already loaded" in second_output
    # The printed password works.
    password = second_output.split("user: analyst  password: ")[1].split()[0]
    assert get_user_model().objects.get(username="analyst").check_password(password)
    phishing = SecurityIncident.objects.get(external_reference="DEMO-3")
    assert phishing.state == "contain"
    assert phishing.evidence.filter(detected_content_type="image/png").exists()
    hanna = Person.objects.get(email="hanna.schmidt@example.com")
    assert hanna.manager.email == "grace.hopper@example.com"


def test_the_demo_refuses_to_create_its_logins_with_debug_off(db, capsys):
    with pytest.raises(CommandError, match="runs with DEBUG=true only"):
        call_command("demo")

    assert not get_user_model().objects.exists()
    assert not SecurityIncident.objects.exists()
    assert "password" not in capsys.readouterr().out


def test_the_demo_analyst_reads_the_local_mailbox_and_the_author_does_not(db, debug):
    call_command("demo")
    users = get_user_model().objects

    assert users.get(username="analyst").has_perm("mailflow.view_local_mailbox")
    assert not users.get(username="author").has_perm("mailflow.view_local_mailbox")


def test_loading_the_demo_again_keeps_an_authors_edit_of_a_shipped_runbook(
    db, debug, client, capsys
):
    call_command("demo")
    runbook = Runbook.objects.get(name="Failed sign-ins")
    client.force_login(get_user_model().objects.get(username="author"))
    url = reverse("admin:runbooks_runbook_change", args=[runbook.pk])
    data = form_as_posted(client.get(url).content.decode(), "runbook_form", "_save")
    question = "Were the failed sign-in attempts on your account made by you?"
    (ask,) = [name for name, (value, *_) in data.items() if question in value]
    data[ask] = [data[ask][0].replace(question, "Did you try to sign in just now?")]
    assert client.post(url, data).status_code == 302
    capsys.readouterr()

    call_command("demo")

    runbook.refresh_from_db()
    assert runbook.version == 2
    ask = runbook.steps.filter(action="ask_user").order_by("position")[0]
    assert ask.params["question"]["en"] == "Did you try to sign in just now?"
    assert (
        "Kept as installed, different from the version shipped with the app: Failed sign-ins "
        "(see `manage.py runbooks upgrade`)"
    ) in capsys.readouterr().out
