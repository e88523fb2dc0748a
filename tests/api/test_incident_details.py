"""What happened, as a SIEM reports it: the `details` object of a new incident, checked
against its category's schema, stored normalised, shown in the API and the admin."""

from pathlib import Path

import pytest
from django.urls import reverse

from core.actors import Actor
from core.errors import DomainError
from incidents.details import SCHEMAS
from incidents.models import SecurityIncident
from tests.factories import UserFactory, category, open_incident

FAILED_LOGIN = {
    "short_description": "12 failed sign-ins for bob",
    "category": "failed-login",
    "affected_user": "bob@corp.example.com",
}
GOOD = {
    "time": "2026-12-04T08:42:00+01:00",
    "source_ip": "2001:DB8::0:1",
    "location": "Lisbon, Portugal",
    "device": "Chrome\u202e on Windows",
    "attempts": 12,
}


def post(client, details, **changes):
    return client.post("/api/incidents/", {**FAILED_LOGIN, **changes, "details": details},
                       format="json")  # fmt: skip


def test_good_details_are_stored_normalised_and_shown_in_the_api(siem, bob):
    response = post(siem, GOOD)

    assert response.status_code == 201, response.json()
    incident = SecurityIncident.objects.get()
    assert incident.details == {
        "time": "2026-12-04T07:42:00+00:00",  # in UTC
        "source_ip": "2001:db8::1",  # canonical
        "location": "Lisbon, Portugal",
        "device": "Chrome on Windows",  # the bidi override is gone
        "attempts": 12,
    }
    assert response.json()["details"] == incident.details
    assert siem.get(f"/api/incidents/{incident.number}/").json()["details"] == incident.details
    assert "Details: time, source_ip, location, device, attempts" in incident.timeline.get().body


def test_an_incident_without_details_has_an_empty_object(siem, bob):
    left_out = siem.post("/api/incidents/", FAILED_LOGIN, format="json")
    null = post(siem, None, external_reference="2")

    assert (left_out.status_code, null.status_code) == (201, 201)
    assert [i.details for i in SecurityIncident.objects.all()] == [{}, {}]
    assert left_out.json()["details"] == {}


@pytest.mark.parametrize(
    ("details", "field", "says"),
    [
        ({"source_ip": "203.0.113.300"}, "source_ip", "IPv4 or IPv6"),
        ({"source_ip": "<script>"}, "source_ip", "IPv4 or IPv6"),
        ({"password": "hunter2"}, "password", "Unknown field for failed-login"),
        ({"location": "x" * 201}, "location", "At most 200 characters"),
        ({"device": "Chrome\r\nBcc: all@corp.example.com"}, "device", "one line"),
        ({"device": "nul\x00byte"}, "device", "one line"),
        ({"time": "yesterday"}, "time", "ISO 8601"),
        ({"time": "2026-12-04T08:42:00"}, "time", "time zone offset"),
        ({"attempts": "12"}, "attempts", "whole number"),
        ({"attempts": True}, "attempts", "whole number"),
        ({"location": ["Lisbon"]}, "location", "Must be text"),
        ({"location": "   "}, "location", "blank"),
    ],
)
def test_bad_details_are_refused_naming_the_field_and_nothing_is_stored(
    siem, bob, details, field, says
):
    response = post(siem, {"attempts": 3, **details})

    assert response.status_code == 400
    errors = response.json()["details"]
    assert list(errors) == [field]
    assert says in errors[field][0]
    assert not SecurityIncident.objects.exists()


def test_details_must_be_an_object(siem, bob):
    response = post(siem, ["203.0.113.7"])

    assert response.status_code == 400
    assert "object" in response.json()["details"][0]
    assert not SecurityIncident.objects.exists()


def test_a_category_without_a_schema_takes_no_details(siem, bob):
    response = post(siem, {"note": "x"}, category="data-loss")

    assert response.status_code == 400
    assert "takes no details" in response.json()["details"][0]
    assert post(siem, {}, category="data-loss").status_code == 201


@pytest.mark.parametrize(
    ("site", "ok"),
    [
        ("files.example.net", True),
        ("https://files.example.net/get?id=1", True),
        ("files.example.net/path/a.zip", True),
        ("javascript:alert(1)", False),
        ("data://text/html,<b>", False),
        ("not a host", False),
    ],
)
def test_a_download_site_is_a_url_or_a_host_name(siem, bob, site, ok):
    response = post(siem, {"site": site, "file_name": "a.zip"}, category="policy-violation")

    assert response.status_code == (201 if ok else 400), response.json()
    if not ok:
        assert list(response.json()["details"]) == ["site"]


def test_a_file_hash_is_hexadecimal_and_stored_lower_case(siem, bob):
    good = post(siem, {"file_hash": "AB" * 32}, category="policy-violation")
    bad = post(siem, {"file_hash": "zz" * 32}, category="policy-violation", external_reference="2")

    assert good.status_code == 201
    assert SecurityIncident.objects.get().details == {"file_hash": "ab" * 32}
    assert bad.status_code == 400 and list(bad.json()["details"]) == ["file_hash"]


def test_the_service_refuses_bad_details_too(db):
    with pytest.raises(DomainError, match=r"details\.source_ip"):
        open_incident(
            actor=Actor.system(),
            category=category("failed-login"),
            details={"source_ip": "nope"},
        )
    assert not SecurityIncident.objects.exists()


def test_the_incident_page_shows_the_details_read_only_and_escaped(client, db):
    incident = open_incident(
        category=category("phishing"),
        details={"sender": "<b>Parcel</b> Service", "received_at": "2026-12-04T08:01:00Z"},
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(reverse("admin:incidents_securityincident_change", args=[incident.pk]))

    html = page.content.decode()
    assert 'id="summary-details"' in html
    assert "&lt;b&gt;Parcel&lt;/b&gt; Service" in html
    assert "2026-12-04 08:01" in html
    assert 'name="details"' not in html  # not a form field: set by the tool, not edited


def test_the_api_docs_list_every_schemas_fields():
    docs = (Path(__file__).parents[2] / "docs" / "rest-api.md").read_text(encoding="utf-8")
    section = docs.split("## Details: what happened", 1)[1].split("\n## ", 1)[0]

    for slug, schema in SCHEMAS.items():
        assert f"`{slug}`" in section
        for name in schema:
            assert f"`{name}`" in section, name
