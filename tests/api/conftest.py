"""The API's world: an integration account in the SOC analyst group with a write and a
read token, and clients that call the API as a SIEM would."""

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.test import APIClient

from core.api.models import ApiToken
from incidents import groups
from tests.builders.api import client_with, make_token
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    # Throttle counts live in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def integration(db):
    """The account a SIEM's tokens belong to: an analyst's permissions, no admin login."""
    user = UserFactory(username="splunk", first_name="", last_name="")
    user.groups.add(Group.objects.get(name=groups.SOC_ANALYST))
    return user


@pytest.fixture
def write_token(integration) -> str:
    return make_token(integration)


@pytest.fixture
def read_token(integration) -> str:
    return make_token(integration, ApiToken.Scope.READ, name="Dashboard")


@pytest.fixture
def siem(write_token) -> APIClient:
    return client_with(write_token)


@pytest.fixture
def reader(read_token) -> APIClient:
    return client_with(read_token)


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
