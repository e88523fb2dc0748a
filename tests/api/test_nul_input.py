"""NUL characters through the API: refused in query filters (core.query) and in JSON text
fields (DRF's CharField), the same on both databases."""

import pytest

from incidents.models import ConfigurationItem, Person, SecurityIncident

pytestmark = pytest.mark.django_db


def test_a_nul_in_an_api_filter_is_refused(siem, incident):
    response = siem.get("/api/incidents/", {"category": "malware\x00"})

    assert response.status_code == 400


def test_the_api_refuses_nul_in_a_text_field(siem, shipped):
    before = SecurityIncident.objects.count()

    response = siem.post(
        "/api/incidents/",
        {"short_description": "Port\x00 scan", "category": "malware", "priority": 3},
        format="json",
    )

    assert response.status_code == 400
    assert "short_description" in response.json()
    assert SecurityIncident.objects.count() == before


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (
            "/api/directory/people/",
            {"email": "ann@corp.example.com", "first_name": "Ann",
             "manager_email": "bob@corp.example.com\x00"},
            "manager_email",
        ),
        (
            "/api/directory/cis/",
            {"name": "SRV-1", "kind": "server", "owner_email": "bob@corp.example.com\x00"},
            "owner_email",
        ),
    ],
)  # fmt: skip
def test_the_api_refuses_nul_in_a_reference_to_a_person(siem, bob, url, body, field):
    people, items = Person.objects.count(), ConfigurationItem.objects.count()

    response = siem.post(url, body, format="json")

    assert response.status_code == 400
    assert response.json() == {field: ["Null characters are not allowed."]}
    assert (Person.objects.count(), ConfigurationItem.objects.count()) == (people, items)
