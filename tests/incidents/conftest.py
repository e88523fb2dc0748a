"""The incidents tests' world: a superuser signed in to the admin."""

import pytest

from tests.factories import UserFactory


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
