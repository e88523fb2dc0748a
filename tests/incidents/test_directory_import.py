"""Directory CSV import: the services, the management command and the admin page."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse

from incidents import directory
from incidents.directory import (
    directory_import_cis,
    directory_import_people,
)
from incidents.models import ConfigurationItem, Person
from tests.builders.directory import import_errors, upload
from tests.factories import ConfigurationItemFactory, PersonFactory, UserFactory

pytestmark = pytest.mark.django_db

PEOPLE_HEADER = "email,first_name,last_name,department,title,manager_email,language\n"


def csv_bytes(text: str) -> bytes:
    return text.encode()


# --- People -----------------------------------------------------------------------------


def test_it_creates_people_with_managers_listed_before_or_after_them():
    report = directory_import_people(
        data=csv_bytes(
            PEOPLE_HEADER
            + "Ann@Corp.Example.com,Ann,Lee,Finance,Clerk,carl@corp.example.com,de\n"
            + "carl@corp.example.com,Carl,Boss,Finance,CFO,,\n"
            + "dan@corp.example.com,Dan,Doe,Finance,Clerk,carl@corp.example.com,pt-BR\n"
        )
    )

    assert (report.created, report.updated, report.errors) == (3, 0, [])
    ann = Person.objects.get(email="ann@corp.example.com")
    carl = Person.objects.get(email="carl@corp.example.com")
    assert ann.manager == carl
    assert ann.language == "de"
    assert Person.objects.get(email="dan@corp.example.com").manager == carl
    assert carl.manager is None
    assert carl.language == "en"


def test_it_links_a_manager_who_is_already_in_the_directory():
    boss = PersonFactory(email="boss@corp.example.com")

    directory_import_people(
        data=csv_bytes(
            "email,first_name,manager_email\nann@corp.example.com,Ann,BOSS@corp.example.com\n"
        )
    )

    assert Person.objects.get(email="ann@corp.example.com").manager == boss


def test_it_updates_existing_people_and_keeps_fields_whose_column_is_absent(bob):
    boss = PersonFactory(email="boss@corp.example.com")
    bob.manager = boss
    bob.save()
    before = bob.updated_at

    report = directory_import_people(
        data=csv_bytes("email,first_name,title\nbob@corp.example.com,Robert,Plumber\n")
    )

    assert (report.created, report.updated) == (0, 1)
    bob.refresh_from_db()
    assert (bob.first_name, bob.title) == ("Robert", "Plumber")
    assert (bob.last_name, bob.department, bob.manager) == ("Builder", "Finance", boss)
    assert bob.updated_at > before


def test_it_clears_a_field_whose_column_is_present_but_empty(bob):
    bob.manager = PersonFactory(email="boss@corp.example.com")
    bob.save()

    directory_import_people(
        data=csv_bytes("email,first_name,department,manager_email\nbob@corp.example.com,Bob,,\n")
    )

    bob.refresh_from_db()
    assert (bob.department, bob.manager) == ("", None)


def test_it_leaves_people_whose_row_changes_nothing_untouched(bob):
    before = bob.updated_at

    report = directory_import_people(
        data=csv_bytes("email,first_name,last_name\nbob@corp.example.com,Bob,Builder\n")
    )

    assert (report.created, report.updated) == (0, 0)
    bob.refresh_from_db()
    assert bob.updated_at == before


def test_it_reports_bad_people_rows_by_line_and_imports_nothing(bob):
    errors = import_errors(
        directory_import_people,
        csv_bytes(
            PEOPLE_HEADER
            + "ann@corp.example.com,Ann,,,,,\n"
            + "x,Xavier,,,,,\n"
            + "eve@corp.example.com,Eve,,,,nobody@corp.example.com,\n"
            + "ANN@corp.example.com,Ann again,,,,,\n"
            + "sam@corp.example.com,Sam,,,,sam@corp.example.com,\n"
            + "lou@corp.example.com,,,,,,english please\n"
            + "too@corp.example.com,Too,Many,,,,,extra\n"
        ),
    )

    assert errors == [
        "line 3: email 'x' is not a valid address",
        "line 4: manager_email 'nobody@corp.example.com' is neither in this file nor in the "
        "directory",
        "line 5: email 'ann@corp.example.com' also appears on line 2",
        "line 6: a person cannot be their own manager",
        "line 7: first_name is required",
        "line 7: language 'english please' is not a language code such as en, de or pt-BR",
        "line 8: has 8 values but the header has 7",
    ]
    assert Person.objects.get(email="bob@corp.example.com").first_name == "Bob"


def test_it_refuses_unknown_and_missing_columns_naming_them():
    errors = import_errors(
        directory_import_people, csv_bytes("email,phone,Cost Centre\nann@corp.example.com,1,2\n")
    )

    assert errors == [
        "line 1: unknown column(s) 'phone', 'cost centre'; the columns are email, first_name, "
        "last_name, department, title, manager_email, language, kind",
        "line 1: missing required column(s) first_name",
    ]


def test_it_matches_header_columns_ignoring_case_and_surrounding_spaces():
    report = directory_import_people(
        data=csv_bytes(" Email , FIRST_NAME \nann@corp.example.com,Ann\n")
    )

    assert report.created == 1


def test_it_accepts_a_utf8_byte_order_mark_and_skips_blank_lines():
    data = "\ufeffemail,first_name\n\nann@corp.example.com,Zoë\n,\n\nx,Bad\n".encode()

    errors = import_errors(directory_import_people, data)
    assert errors == ["line 6: email 'x' is not a valid address"]

    report = directory_import_people(data=data.replace(b"\nx,Bad\n", b"\n"))
    assert report.created == 1
    assert Person.objects.get().first_name == "Zoë"


def test_it_refuses_a_file_that_is_not_utf8():
    data = "email,first_name\nann@corp.example.com,Zoë\n".encode("latin-1")

    errors = import_errors(directory_import_people, data)

    assert errors == ["line 2: the file is not UTF-8 text; save or export it as CSV UTF-8"]


def test_it_refuses_a_file_over_the_size_limit():
    data = PEOPLE_HEADER.encode() + b" " * directory.MAX_IMPORT_BYTES

    assert import_errors(directory_import_people, data) == ["the file is larger than 5 MB"]


def test_it_refuses_a_file_over_the_row_limit(monkeypatch):
    monkeypatch.setattr(directory, "MAX_IMPORT_ROWS", 2)
    rows = "".join(f"p{n}@corp.example.com,P\n" for n in range(3))

    errors = import_errors(directory_import_people, csv_bytes("email,first_name\n" + rows))

    assert errors == ["the file has more than 2 rows; split it"]


def test_it_refuses_an_empty_file():
    assert import_errors(directory_import_people, b"\n\n") == ["the file is empty"]


# --- Configuration items ----------------------------------------------------------------


def test_it_creates_and_updates_configuration_items(bob):
    laptop = ConfigurationItemFactory(name="LAPTOP-BOB", hostname="old.example.com")

    report = directory_import_cis(
        data=csv_bytes(
            "name,kind,hostname,ip_address,owner_email\n"
            "LAPTOP-BOB,laptop,bob.corp.example.com,10.0.0.7,Bob@corp.example.com\n"
            "core-sw-1,network device,,2001:DB8:0::1,\n"
            "mystery,,,,\n"
        )
    )

    assert (report.created, report.updated) == (2, 1)
    laptop.refresh_from_db()
    assert (laptop.hostname, laptop.ip_address, laptop.owner) == (
        "bob.corp.example.com",
        "10.0.0.7",
        bob,
    )
    switch = ConfigurationItem.objects.get(name="core-sw-1")
    assert (switch.kind, switch.ip_address) == ("network", "2001:db8::1")
    assert ConfigurationItem.objects.get(name="mystery").kind == "other"


def test_it_reports_bad_configuration_item_rows_by_line_and_imports_nothing(laptop):
    errors = import_errors(
        directory_import_cis,
        csv_bytes(
            "name,kind,ip_address,owner_email\n"
            "LAPTOP-BOB,toaster,10.0.0.7,\n"
            "SRV-1,server,10.0.0.300,\n"
            "SRV-2,server,,ghost@corp.example.com\n"
            ",server,,\n"
            "SRV-1,server,,\n"
        ),
    )

    assert errors == [
        "line 2: kind 'toaster' is not one of laptop, desktop, mobile, server, network, "
        "application, cloud, other",
        "line 3: ip_address '10.0.0.300' is not an IPv4 or IPv6 address",
        "line 4: owner_email 'ghost@corp.example.com' is not in the directory",
        "line 5: name is required",
        "line 6: name 'SRV-1' also appears on line 3",
    ]
    laptop.refresh_from_db()
    assert laptop.kind == "laptop"


# --- Management command -----------------------------------------------------------------


def test_the_command_imports_a_file_and_reports_the_counts(tmp_path, bob):
    path = tmp_path / "people.csv"
    path.write_bytes(b"email,first_name\nbob@corp.example.com,Robert\nann@corp.example.com,Ann\n")
    out = StringIO()

    call_command("import_directory", "people", str(path), stdout=out)

    assert "Created 1, updated 1" in out.getvalue()
    assert Person.objects.count() == 2


def test_the_command_prints_every_error_and_imports_nothing(tmp_path):
    path = tmp_path / "cis.csv"
    path.write_bytes(b"name,kind\nSRV-1,server\nSRV-2,toaster\n")
    err = StringIO()

    with pytest.raises(CommandError, match="1 problem"):
        call_command("import_directory", "cis", str(path), stderr=err)

    assert "line 3: kind 'toaster' is not one of" in err.getvalue()
    assert ConfigurationItem.objects.count() == 0


def test_the_command_reports_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_directory", "people", str(tmp_path / "nope.csv"))


# --- Admin page -------------------------------------------------------------------------
# Needs PersonAdmin to use CsvImportAdminMixin with directory_import_people.


def test_the_person_list_offers_the_import_to_those_allowed(superuser_client):
    response = superuser_client.get(reverse("admin:incidents_person_changelist"))

    assert reverse("admin:incidents_person_import_csv") in response.content.decode()
    assert reverse("admin:incidents_person_add") in response.content.decode()


def test_the_admin_shows_the_upload_form(superuser_client):
    response = superuser_client.get(reverse("admin:incidents_person_import_csv"))

    assert response.status_code == 200
    assert 'type="file"' in response.content.decode()


def test_the_admin_imports_an_upload_and_returns_to_the_list(superuser_client):
    url = reverse("admin:incidents_person_import_csv")
    data = b"email,first_name\nann@corp.example.com,Ann\ncarl@corp.example.com,Carl\n"

    response = superuser_client.post(url, upload(data))

    assert response.status_code == 302
    assert response.url == reverse("admin:incidents_person_changelist")
    assert Person.objects.count() == 2
    assert "Created 2, updated 0." in superuser_client.get(response.url).content.decode()


def test_the_admin_lists_the_errors_of_a_bad_upload_escaped_and_imports_nothing(
    superuser_client,
):
    url = reverse("admin:incidents_person_import_csv")
    data = b"email,first_name\nann@corp.example.com,Ann\n<script>,Evil\n"

    response = superuser_client.post(url, upload(data))

    page = response.content.decode()
    assert response.status_code == 200
    assert "line 3: email &#x27;&lt;script&gt;&#x27; is not a valid address" in page
    assert "<script>," not in page
    assert Person.objects.count() == 0


def test_the_admin_import_is_forbidden_to_staff_without_the_permissions(client):
    user = UserFactory(is_staff=True)
    # Adding alone is not enough: an import also overwrites existing people.
    user.user_permissions.add(Permission.objects.get(codename="add_person"))
    client.force_login(user)

    response = client.get(reverse("admin:incidents_person_import_csv"))

    assert response.status_code == 403


def test_the_admin_import_is_open_to_staff_who_may_add_and_change_people(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_person", "change_person"])
    )
    client.force_login(user)

    response = client.get(reverse("admin:incidents_person_import_csv"))

    assert response.status_code == 200
