"""The analysts' pages cost the same on a large case record: the incident page shows the
newest entries with a link to the whole timeline, lists count at most up to a cap, and a
first page that holds every result needs no COUNT at all."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import incidents.admin.incident
import incidents.admin.incident_page
from core.admin_helpers import CappedCountPaginator
from incidents.admin.incident import SecurityIncidentAdmin
from incidents.models import SecurityIncident
from incidents.services import incident_add_note
from tests.factories import UserFactory, open_incident

LIST_URL = "/admin/incidents/securityincident/"


@pytest.fixture
def client_as_analyst(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def noted(incident, as_analyst):
    """The incident with five numbered notes after its opening entry."""
    for n in range(1, 6):
        incident_add_note(actor=as_analyst, incident=incident, text=f"Note number {n}.")
    return incident


def test_the_incident_page_shows_the_newest_entries_and_links_to_the_rest(
    client_as_analyst, noted, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident_page, "TIMELINE_ON_INCIDENT_PAGE", 3)

    page = client_as_analyst.get(
        reverse("admin:incidents_securityincident_change", args=[noted.pk])
    ).content.decode()

    assert "Note number 2." not in page and "Incident opened" not in page
    assert page.index("Note number 5.") < page.index("Note number 3.")
    timeline_url = reverse("admin:incidents_securityincident_timeline", args=[noted.pk])
    assert f'href="{timeline_url}"' in page


def test_a_short_timeline_has_no_link_to_older_entries(client_as_analyst, noted):
    page = client_as_analyst.get(
        reverse("admin:incidents_securityincident_change", args=[noted.pk])
    ).content.decode()

    assert "Incident opened" in page and "Note number 5." in page
    assert 'id="timeline-older"' not in page


def test_the_full_timeline_pages_through_every_entry_newest_first(
    client_as_analyst, noted, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident, "TIMELINE_PAGE_SIZE", 4)
    url = reverse("admin:incidents_securityincident_timeline", args=[noted.pk])

    first = client_as_analyst.get(url).content.decode()
    second = client_as_analyst.get(url, {"page": 2}).content.decode()

    assert first.index("Note number 5.") < first.index("Note number 2.")
    assert "Note number 1." not in first and "Incident opened" not in first
    assert "Note number 1." in second and "Incident opened" in second
    assert second.index("Note number 1.") < second.index("Incident opened")


def test_the_full_timeline_needs_the_view_permission(client, noted):
    client.force_login(UserFactory(is_staff=True))
    url = reverse("admin:incidents_securityincident_timeline", args=[noted.pk])

    assert client.get(url).status_code == 403


def test_a_list_longer_than_the_cap_shows_the_cap_with_a_plus(client_as_analyst, bob, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)
    monkeypatch.setattr(SecurityIncidentAdmin, "list_per_page", 2)
    for _ in range(5):
        open_incident(affected_user=bob)

    page = client_as_analyst.get(LIST_URL).content.decode()

    assert "3+ security incidents" in page


def test_a_first_page_holding_every_result_is_not_counted(client_as_analyst, incident):
    open_incident(short_description="Something else")

    with CaptureQueriesContext(connection) as queries:
        response = client_as_analyst.get(LIST_URL, {"q": "else"})

    assert [i.short_description for i in response.context["cl"].result_list] == ["Something else"]
    assert response.context["cl"].result_count == 1
    assert not [q for q in queries if "COUNT(" in q["sql"]]


def test_a_number_or_an_email_searches_by_exact_match(client_as_analyst, incident):
    other = open_incident(short_description=f"Follows up {incident.number}")

    by_number = client_as_analyst.get(LIST_URL, {"q": incident.number.lower()})
    by_email = client_as_analyst.get(LIST_URL, {"q": "BOB@corp.example.com"})
    by_words = client_as_analyst.get(LIST_URL, {"q": "follows up"})

    assert list(by_number.context["cl"].result_list) == [incident]
    assert list(by_email.context["cl"].result_list) == [incident]
    assert list(by_words.context["cl"].result_list) == [other]


def test_the_assignee_filter_offers_the_analysts(client_as_analyst, analyst):
    page = client_as_analyst.get("/admin/incidents/responsetask/").content.decode()

    assert f"assignee__id__exact={analyst.pk}" in page


def test_words_search_descriptions_and_the_affected_users_name_all_words_matching(
    client_as_analyst, incident
):
    open_incident(short_description="Builder's laptop stolen")

    by_name = client_as_analyst.get(LIST_URL, {"q": "bob"})
    by_both = client_as_analyst.get(LIST_URL, {"q": 'builder "sign-ins"'})

    assert list(by_name.context["cl"].result_list) == [incident]
    assert list(by_both.context["cl"].result_list) == [incident]


def test_each_word_may_match_a_different_field_whatever_its_case(client_as_analyst, incident):
    SecurityIncident.objects.filter(pk=incident.pk).update(external_reference="Splunk-Alert-77")
    noisy = open_incident(short_description="Printer offline", description="Toner empty on floor 3")

    by_reference = client_as_analyst.get(LIST_URL, {"q": "splunk-alert-77"})
    by_number_and_words = client_as_analyst.get(LIST_URL, {"q": f"{incident.number.lower()} bob"})
    by_description = client_as_analyst.get(LIST_URL, {"q": "TONER floor"})
    nothing = client_as_analyst.get(LIST_URL, {"q": "toner bob"})

    assert list(by_reference.context["cl"].result_list) == [incident]
    assert list(by_number_and_words.context["cl"].result_list) == [incident]
    assert list(by_description.context["cl"].result_list) == [noisy]
    assert list(nothing.context["cl"].result_list) == []


@pytest.mark.postgres
def test_free_words_are_found_through_the_trigram_indexes(incident):
    """With sequential scans priced out (a test table is too small for the planner to
    prefer an index on its own), the word search can use both descriptions' indexes: the
    query's shape and the migration's indexes fit each other."""
    found = incidents.admin.incident._incident_word_search(SecurityIncident.objects.all(), "laptop")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = found.explain()

    assert "incident_subject_trgm_idx" in plan
    assert "incident_description_trgm_idx" in plan


def test_the_list_joins_only_what_it_shows(client_as_analyst, incident):
    """The page's header needs the manager and the asset's owner; the list does not, and
    joined in they made the search's query too large for the planner to reorder."""
    with CaptureQueriesContext(connection) as queries:
        client_as_analyst.get(LIST_URL, {"q": "laptop"})

    listing = [q["sql"] for q in queries if 'FROM "incidents_securityincident"' in q["sql"]]
    assert listing
    assert not [sql for sql in listing if 'JOIN "incidents_configurationitem"' in sql]
    assert not [sql for sql in listing if sql.count('JOIN "incidents_person"') > 1]
