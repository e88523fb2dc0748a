"""A small named world the tests share: an analyst, a person with a laptop, an incident."""

import pytest
from django.db import connection

from incidents.actors import Actor
from tests.factories import AnalystFactory, ConfigurationItemFactory, PersonFactory, open_incident


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://...")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def analyst(db):
    return AnalystFactory(username="alice", first_name="Alice", last_name="Analyst")


@pytest.fixture
def as_analyst(analyst) -> Actor:
    return Actor.analyst(analyst)


@pytest.fixture
def bob(db):
    """The affected end user."""
    return PersonFactory(email="bob@corp.example.com", first_name="Bob", last_name="Builder")


@pytest.fixture
def laptop(db, bob):
    return ConfigurationItemFactory(name="LAPTOP-BOB", owner=bob)


@pytest.fixture
def incident(db, bob, laptop):
    return open_incident(affected_user=bob, affected_ci=laptop)
