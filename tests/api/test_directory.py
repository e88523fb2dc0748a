"""People and configuration items through the API, one at a time and in batches from HR
and CMDB sync jobs. Directory records are reference data: no timeline entries."""

from incidents.models import ConfigurationItem, Person, TimelineEntry
from tests.factories import ConfigurationItemFactory, PersonFactory


def post(client, url, data):
    return client.post(url, data, format="json")


def test_a_person_is_created_with_a_lower_case_email(siem, bob):
    response = post(
        siem,
        "/api/directory/people/",
        {"email": "Dana@Corp.Example.com", "first_name": "Dana", "manager_email": bob.email},
    )

    assert response.status_code == 201, response.json()
    dana = Person.objects.get(email="dana@corp.example.com")
    assert (dana.first_name, dana.manager, dana.language) == ("Dana", bob, "en")
    assert response.json()["manager_email"] == bob.email
    assert not TimelineEntry.objects.exists()


def test_a_duplicate_person_gets_400(siem, bob):
    response = post(
        siem, "/api/directory/people/", {"email": "BOB@corp.example.com", "first_name": "B"}
    )

    assert response.status_code == 400
    assert "email" in response.json()
    assert Person.objects.count() == 1


def test_an_unknown_manager_gets_400(siem, db):
    response = post(
        siem,
        "/api/directory/people/",
        {"email": "x@corp.example.com", "first_name": "X", "manager_email": "no@one.example"},
    )

    assert response.status_code == 400
    assert "manager_email" in response.json()


def test_a_person_is_updated_but_keeps_their_email(siem, bob):
    url = f"/api/directory/people/{bob.pk}/"

    changed = siem.patch(url, {"department": "Security", "language": "de"}, format="json")
    renamed = siem.patch(url, {"email": "new@corp.example.com"}, format="json")
    bad = siem.patch(url, {"language": "not a language"}, format="json")

    assert changed.status_code == 200
    assert renamed.status_code == 400 and "email" in renamed.json()
    assert bad.status_code == 400 and "language" in bad.json()
    bob.refresh_from_db()
    assert (bob.department, bob.language, bob.email) == ("Security", "de", "bob@corp.example.com")


def test_people_are_upserted_by_email(siem, bob):
    response = post(
        siem,
        "/api/directory/people/upsert/",
        [
            {"email": "BOB@corp.example.com", "first_name": "Robert", "title": "Builder"},
            {"email": "erin@corp.example.com", "first_name": "Erin", "manager_email": bob.email},
            {"email": "finn@corp.example.com", "first_name": "Finn",
             "manager_email": "erin@corp.example.com"},
        ],
    )  # fmt: skip

    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 2, "updated": 1, "unchanged": 0}
    bob.refresh_from_db()
    assert (bob.first_name, bob.title, bob.department) == ("Robert", "Builder", "Finance")
    finn = Person.objects.get(email="finn@corp.example.com")
    assert finn.manager.email == "erin@corp.example.com"
    assert finn.manager.manager == bob


def test_an_unchanged_batch_changes_nothing(siem, bob):
    rows = [{"email": bob.email, "first_name": bob.first_name, "last_name": bob.last_name}]
    before = Person.objects.get().updated_at

    response = post(siem, "/api/directory/people/upsert/", rows)

    assert response.json() == {"created": 0, "updated": 0, "unchanged": 1}
    assert Person.objects.get().updated_at == before


def test_a_batch_with_one_bad_row_writes_nothing(siem, db):
    response = post(
        siem,
        "/api/directory/people/upsert/",
        [
            {"email": "ok@corp.example.com", "first_name": "Ok"},
            {"email": "not-an-email", "first_name": "Bad"},
        ],
    )

    assert response.status_code == 400
    assert response.json() == {"1": {"email": ["Enter a valid email address."]}}
    assert not Person.objects.exists()


def test_a_batch_naming_an_unknown_manager_writes_nothing(siem, db):
    response = post(
        siem,
        "/api/directory/people/upsert/",
        [{"email": "a@corp.example.com", "first_name": "A", "manager_email": "z@x.example"}],
    )

    assert response.status_code == 400
    assert "z@x.example" in response.json()["detail"]
    assert not Person.objects.exists()


def test_a_batch_must_be_a_list(siem, db):
    response = post(siem, "/api/directory/people/upsert/", {"email": "a@corp.example.com"})

    assert response.status_code == 400


def test_people_filter_by_email_and_department(siem, bob):
    PersonFactory(email="gil@corp.example.com", department="IT")

    by_email = siem.get("/api/directory/people/", {"email": "BOB@corp.example.com"}).json()
    by_department = siem.get("/api/directory/people/", {"department": "IT"}).json()

    assert [p["email"] for p in by_email["results"]] == [bob.email]
    assert [p["email"] for p in by_department["results"]] == ["gil@corp.example.com"]


def test_a_ci_is_created_and_updated(siem, bob):
    created = post(
        siem,
        "/api/directory/cis/",
        {"name": "SRV-01", "kind": "server", "ip_address": "10.0.0.1", "owner_email": bob.email},
    )
    assert created.status_code == 201, created.json()
    ci = ConfigurationItem.objects.get(name="SRV-01")
    assert (ci.kind, ci.ip_address, ci.owner) == ("server", "10.0.0.1", bob)

    updated = siem.patch(
        f"/api/directory/cis/{ci.pk}/", {"hostname": "srv-01.corp", "owner_email": None},
        format="json",
    )  # fmt: skip

    assert updated.status_code == 200
    ci.refresh_from_db()
    assert (ci.hostname, ci.owner) == ("srv-01.corp", None)


def test_a_bad_ci_gets_400_with_the_fields_named(siem, db):
    response = post(
        siem, "/api/directory/cis/", {"name": "", "kind": "toaster", "ip_address": "999.1.1.1"}
    )

    assert response.status_code == 400
    assert {"name", "kind", "ip_address"} <= set(response.json())


def test_cis_are_upserted_by_name(siem, bob, laptop):
    response = post(
        siem,
        "/api/directory/cis/upsert/",
        [
            {"name": "LAPTOP-BOB", "hostname": "lt-bob.corp"},
            {"name": "SRV-02", "kind": "server", "owner_email": bob.email},
        ],
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 0}
    laptop.refresh_from_db()
    assert (laptop.hostname, laptop.owner, laptop.kind) == ("lt-bob.corp", bob, "laptop")
    assert ConfigurationItem.objects.get(name="SRV-02").owner == bob


def test_cis_filter_by_kind_and_owner(siem, bob, laptop):
    ConfigurationItemFactory(name="SRV-03", kind="server")

    servers = siem.get("/api/directory/cis/", {"kind": "server"}).json()["results"]
    owned = siem.get("/api/directory/cis/", {"owner_email": bob.email}).json()["results"]

    assert [c["name"] for c in servers] == ["SRV-03"]
    assert [c["name"] for c in owned] == ["LAPTOP-BOB"]


def test_a_read_token_cannot_upsert(reader, db):
    response = post(
        reader, "/api/directory/people/upsert/", [{"email": "a@b.example", "first_name": "A"}]
    )

    assert response.status_code == 403
    assert not Person.objects.exists()
