"""Every list endpoint costs the same few queries whatever the page size: related records
are joined or prefetched, never fetched row by row."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.actors import Actor
from incidents.models import Evidence
from incidents.services import evidence_add, incident_add_note, incident_assign, task_create
from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest
from tests.builders.api import LIST_URLS
from tests.factories import ConfigurationItemFactory, PersonFactory, category, open_incident

# Authentication (token with its owner), the owner's permissions (two), the page itself,
# and for runbooks the two prefetches.
MAX_QUERIES = 7


@pytest.fixture
def world(shipped, committed, analyst):
    """Several of everything, every relation filled."""
    incidents = []
    for n in range(4):
        person = PersonFactory(manager=PersonFactory())
        ci = ConfigurationItemFactory(owner=person)
        slug = "policy-violation" if n % 2 else "failed-login"
        incident = committed(
            open_incident, category=category(slug), affected_user=person, affected_ci=ci
        )
        incident_assign(actor=Actor.system(), incident=incident, analyst=analyst)
        task_create(actor=Actor.system(), incident=incident, title="Look", assignee=analyst)
        evidence_add(
            actor=Actor.system(), incident=incident, content=b"x" * 10, filename="a.txt",
            source=Evidence.Source.ANALYST_UPLOAD,
            task=incident.tasks.first(),
        )  # fmt: skip
        incident_add_note(actor=Actor.system(), incident=incident, text="note")
        request = ConfirmationRequest.objects.get(incident=incident)
        committed(answer_record, request=request, option_key="yes", channel=Answer.Channel.PAGE)
        incidents.append(incident)
    return incidents


def count(client, url, params) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(context.captured_queries), len(response.json()["results"])


@pytest.mark.parametrize("url", LIST_URLS)
def test_a_list_costs_a_constant_number_of_queries(siem, world, url, django_assert_max_num_queries):
    siem.get("/api/runbooks/")  # the token's last use is recorded once; not counted below

    small, small_rows = count(siem, url, {"page_size": 1})
    large, large_rows = count(siem, url, {"page_size": 200})
    with django_assert_max_num_queries(MAX_QUERIES):
        siem.get(url, {"page_size": 200})

    assert large_rows > small_rows == 1
    assert small == large


def test_the_timeline_costs_a_constant_number_of_queries(
    siem, world, django_assert_max_num_queries
):
    number = world[1].number
    siem.get("/api/runbooks/")

    small, _ = count(siem, f"/api/incidents/{number}/timeline/", {"page_size": 1})
    large, large_rows = count(siem, f"/api/incidents/{number}/timeline/", {"page_size": 200})
    with django_assert_max_num_queries(MAX_QUERIES):
        siem.get(f"/api/incidents/{number}/timeline/", {"page_size": 200})

    assert large_rows > 10
    assert small == large


@pytest.mark.parametrize(
    "url",
    ["/api/incidents/?state=closed&priority=2", "/api/tasks/?state=open",
     "/api/runs/?state=waiting", "/api/requests/?state=sent", "/api/answers/?state=answered"],
)  # fmt: skip
def test_state_filters_keep_the_index_order_without_distinct(siem, world, url):
    with CaptureQueriesContext(connection) as queries:
        response = siem.get(url)

    assert response.status_code == 200
    assert not [q["sql"] for q in queries if "DISTINCT" in q["sql"].upper()]
