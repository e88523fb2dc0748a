"""NUL characters from analysts' files, the admin's filters and the API: PostgreSQL refuses
them (a 500 there), SQLite keeps them. Free text loses them, identifiers are refused, the
same on both databases; run on PostgreSQL as well (DATABASE_URL=postgres://...). The API:
tests/api/test_nul_input.py."""

import pytest
from django.urls import reverse

from incidents.directory import directory_import_cis, directory_import_people
from incidents.models import ConfigurationItem, Person
from tests.builders.directory import import_errors, upload
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


# --- CSV directory import ---------------------------------------------------------------


def test_it_removes_nul_from_free_text_cells_of_a_people_import():
    report = directory_import_people(
        data=b"email,first_name,last_name,department,title\n"
        b"ann@corp.example.com,A\x00nn,Lee\x00,Fin\x00ance,\x00Clerk\n"
    )

    assert (report.created, report.errors) == (1, [])
    ann = Person.objects.get(email="ann@corp.example.com")
    assert (ann.first_name, ann.last_name, ann.department, ann.title) == (
        "Ann", "Lee", "Finance", "Clerk"
    )  # fmt: skip


def test_it_refuses_nul_in_identifier_cells_of_a_people_import_naming_the_line():
    boss = PersonFactory(email="boss@corp.example.com")

    errors = import_errors(
        directory_import_people,
        b"email,first_name,manager_email,language\n"
        b"ann\x00@corp.example.com,Ann,,\n"
        b"bea@corp.example.com,Bea,boss@corp.example.com\x00,\n"
        b"cy@corp.example.com,Cy,,de\x00\n"
        b"dee@corp.example.com,Dee,boss@corp.example.com,en\n",
    )

    assert errors == [
        "line 2: email contains a NUL character",
        "line 3: manager_email contains a NUL character",
        "line 4: language contains a NUL character",
    ]
    assert list(Person.objects.all()) == [boss]


def test_it_refuses_nul_in_identifier_cells_of_a_configuration_item_import(bob):
    errors = import_errors(
        directory_import_cis,
        b"name,kind,hostname,ip_address,owner_email\n"
        b"SRV\x00-1,server,,,\n"
        b"SRV-2,server\x00,,,\n"
        b"SRV-3,server,srv-3\x00.corp,,\n"
        b"SRV-4,server,,10.0.0.4\x00,\n"
        b"SRV-5,server,,,bob@corp.example.com\x00\n"
        b"SRV-6,server,,,bob@corp.example.com\n",
    )

    assert errors == [
        "line 2: name contains a NUL character",
        "line 3: kind contains a NUL character",
        "line 4: hostname contains a NUL character",
        "line 5: ip_address contains a NUL character",
        "line 6: owner_email contains a NUL character",
    ]
    assert not ConfigurationItem.objects.exists()


def test_the_admin_lists_a_nul_in_an_uploaded_address_as_an_error(superuser_client):
    data = b"email,first_name\nann@corp.example.com,Ann\nbea\x00@corp.example.com,Bea\n"

    response = superuser_client.post(reverse("admin:incidents_person_import_csv"), upload(data))

    assert response.status_code == 200
    assert "line 3: email contains a NUL character" in response.content.decode()
    assert not Person.objects.exists()


# --- query strings ----------------------------------------------------------------------

NUL_QUERIES = [
    "/admin/incidents/securityincident/?state=%00",
    "/admin/incidents/securityincident/?q=SIR%00",
    "/admin/incidents/person/?department=Finance%00",
    "/admin/mailflow/inboundemail/?status=failed%00",
    "/admin/incidents/securityincident/?%00=1",
]


@pytest.mark.parametrize("url", NUL_QUERIES)
def test_a_nul_in_an_admin_filter_is_refused(superuser_client, incident, url):
    response = superuser_client.get(url)

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_plain_admin_filter_still_works(superuser_client, incident):
    response = superuser_client.get(f"/admin/incidents/securityincident/?state={incident.state}")

    assert response.status_code == 200
    assert incident.number in response.content.decode()
