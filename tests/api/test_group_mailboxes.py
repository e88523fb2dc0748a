"""A group mailbox (Person.kind "group") through the directory API: created, synced in a
batch, filtered, and refused with a kind that does not exist."""

from incidents.models import Person


def test_a_group_mailbox_is_created_and_listed_by_kind(siem, bob):
    response = siem.post(
        "/api/directory/people/",
        {"email": "Desk@Corp.Example.com", "first_name": "Service desk", "kind": "group"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "group"
    assert Person.objects.get(email="desk@corp.example.com").kind == Person.Kind.GROUP
    listed = siem.get("/api/directory/people/", {"kind": "group"}).json()
    assert [p["email"] for p in listed["results"]] == ["desk@corp.example.com"]
    assert siem.get(f"/api/directory/people/{bob.pk}/").json()["kind"] == "person"


def test_a_batch_sets_the_kind_and_an_unknown_kind_gets_400(siem, bob):
    synced = siem.post(
        "/api/directory/people/upsert/",
        [{"email": "soc-team@corp.example.com", "first_name": "SOC team", "kind": "group"},
         {"email": bob.email, "first_name": "Bob"}],
        format="json",
    )  # fmt: skip
    bad = siem.post(
        "/api/directory/people/",
        {"email": "x@corp.example.com", "first_name": "X", "kind": "robot"},
        format="json",
    )

    assert synced.status_code == 200, synced.json()
    assert Person.objects.get(email="soc-team@corp.example.com").kind == "group"
    bob.refresh_from_db()
    assert bob.kind == "person"  # a row without the kind leaves it alone
    assert bad.status_code == 400 and "kind" in bad.json()
