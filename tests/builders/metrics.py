"""Reading /metrics as Prometheus does: the endpoint scraped with its token, the text
parsed by the client library's own parser."""

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token-0123456789abcdef"


def scrape(client: Client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) → value, for every sample of every family."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return parsed[(name, frozenset(labels.items()))]


def series(parsed: dict[tuple[str, frozenset], float], name: str) -> dict[frozenset, float]:
    """The labels → value of every sample named `name`."""
    return {labels: n for (sample, labels), n in parsed.items() if sample == name}
