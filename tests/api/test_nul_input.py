"""NUL characters through the API: refused in query filters (soc.query) and in JSON text
fields (DRF's CharField), the same on both databases."""

import pytest

from incidents.models import SecurityIncident

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
