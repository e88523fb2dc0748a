from django.contrib.auth import get_user_model
from django.core.management import call_command

from incidents.models import Evidence, Person, ResponseTask, SecurityIncident, TimelineEntry


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Person, SecurityIncident, ResponseTask, TimelineEntry, Evidence)
    )


def test_the_demo_loads_a_directory_logins_and_incidents_and_can_run_again(db, capsys):
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
