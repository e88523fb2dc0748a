"""The metrics tests: /metrics on, with the test token, and the mail tests' world (a
question asked by a shipped runbook, the inbound webhook)."""

import pytest

from tests.builders.metrics import TOKEN
from tests.mailflow.conftest import asked, deliver, webhook_secret  # noqa: F401 (fixtures)


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
