"""Schema-driven fuzzing: schemathesis generates requests for every operation of the
generated OpenAPI schema, valid and invalid, and sends them to the Django app in-process.
None may answer 500. Bounded (few examples per operation) to stay well under a minute."""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from tests.builders.api import make_token
from tests.factories import UserFactory, category, open_incident


def _load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema as /api/schema/ serves it, bound to the app in-process. Built at import
    (pytest-django has set Django up by then): schemathesis makes one test per operation."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = WSGIHandler()
    return loaded


schema = _load_schema()


@pytest.fixture(autouse=True)
def something_to_find(shipped, committed, bob, laptop):
    """An incident whose runbook asked Bob, so generated requests meet real records."""
    committed(open_incident, category=category("policy-violation"), affected_user=bob,
              affected_ci=laptop, external_reference="fuzz-1")  # fmt: skip


@pytest.fixture(autouse=True)
def keep_the_test_transaction():
    # Django closes "obsolete" connections at each request's start and end; inside the
    # test's transaction that would close it. The test client disconnects these as well.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def superuser_token(db) -> str:
    # A superuser reaches every operation, so the fuzzing gets past the permission checks.
    root = UserFactory(username="fuzz-root", is_staff=True, is_superuser=True)
    return make_token(root, name="Fuzzer")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
@override_settings(API_RATE_PER_MINUTE=1_000_000)
def test_no_generated_request_gets_a_server_error(case, superuser_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {superuser_token}"}, checks=[not_a_server_error]
    )
