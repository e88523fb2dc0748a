"""Group mailboxes in the directory: imported from a CSV's kind column and shown in the
admin's list of people."""

from django.urls import reverse

from incidents.directory import directory_import_people
from incidents.models import Person
from tests.builders.directory import import_errors


def test_the_kind_column_imports_a_group_mailbox(db):
    report = directory_import_people(
        data=b"email,first_name,kind\ndesk@corp.example.com,Service desk,Group\n"
        b"ann@corp.example.com,Ann,\n"
    )

    assert report.created == 2
    assert Person.objects.get(email="desk@corp.example.com").kind == Person.Kind.GROUP
    assert Person.objects.get(email="ann@corp.example.com").kind == Person.Kind.PERSON


def test_an_unknown_kind_is_refused_with_its_line(db):
    errors = import_errors(
        directory_import_people, b"email,first_name,kind\nx@corp.example.com,X,robot\n"
    )

    assert errors == ["line 2: kind 'robot' is not one of: person, group"]


def test_the_admin_lists_and_filters_people_by_kind(admin_client, bob):
    Person.objects.create(email="desk@corp.example.com", first_name="Service desk", kind="group")

    page = admin_client.get(reverse("admin:incidents_person_changelist"), {"kind": "group"})

    html = page.content.decode()
    assert "Group mailbox" in html and "desk@corp.example.com" in html
    assert "bob@corp.example.com" not in html
