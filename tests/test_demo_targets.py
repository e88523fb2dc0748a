"""The demo's directory lets the Failed sign-ins runbook reach a manager, and holds a group
mailbox a runbook can ask."""

from django.core.management import call_command

from incidents.models import Person


def test_the_demo_person_with_failed_sign_ins_has_a_manager_and_a_group_mailbox_exists(
    db, settings
):
    settings.DEBUG = True

    call_command("demo")

    bob = Person.objects.get(email="bob.builder@example.com")
    assert bob.manager.full_name == "Grace Hopper"
    desk = Person.objects.get(email="it.servicedesk@example.com")
    assert (desk.kind, desk.greeting_name, desk.full_name) == ("group", "", "IT Service Desk")
