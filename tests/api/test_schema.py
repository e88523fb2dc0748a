"""The OpenAPI description: generated without a single warning, valid, and covering every
endpoint and filter."""

import pytest
import yaml
from django.core.management import call_command

from api.urls import router


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        # --fail-on-warn turns any warning (an unresolvable field, a missing serializer, a
        # colliding enum) into an error, --validate checks it against the OpenAPI spec.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_generates_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["apiToken"]["description"],
    }


def test_every_routed_endpoint_is_described(schema):
    prefixes = {f"/api/{prefix}/" for prefix, _, _ in router.registry}

    assert prefixes <= {path for path in schema["paths"]}
    for path in [
        "/api/incidents/{number}/transition/",
        "/api/incidents/{number}/notes/",
        "/api/incidents/{number}/assign/",
        "/api/incidents/{number}/timeline/",
        "/api/incidents/{number}/campaign/",
        "/api/tasks/{number}/start/",
        "/api/tasks/{number}/complete/",
        "/api/tasks/{number}/mark-incomplete/",
        "/api/runs/{id}/resume/",
        "/api/runs/{id}/cancel/",
        "/api/evidence/{id}/download/",
        "/api/directory/people/upsert/",
        "/api/directory/cis/upsert/",
    ]:
        assert path in schema["paths"], path


def test_every_filter_is_described(schema):
    def parameters(path: str) -> dict[str, str]:
        return {
            p["name"]: p.get("description", "")
            for p in schema["paths"][path]["get"]["parameters"]
            if p["in"] == "query"
        }

    incidents = parameters("/api/incidents/")
    assert {
        "state", "category", "priority", "assigned_to", "assigned", "affected_user_email",
        "opened_after", "opened_before", "has_waiting_request", "external_reference",
        "cursor", "page_size",
    } <= set(incidents)  # fmt: skip
    assert {"incident", "state", "assignee"} <= set(parameters("/api/tasks/"))
    assert {"incident", "state", "channel", "waiting"} <= set(parameters("/api/requests/"))
    assert {"incident", "channel", "flagged", "late", "sender_mismatch"} <= set(
        parameters("/api/answers/")
    )
    assert {"kind", "kind_prefix"} <= set(parameters("/api/incidents/{number}/timeline/"))
    for path, operations in schema["paths"].items():
        if "get" in operations and "{" not in path.split("/")[-2]:
            undocumented = [n for n, d in parameters(path).items() if not d]
            assert not undocumented, (path, undocumented)


def test_the_create_endpoint_documents_both_outcomes(schema):
    responses = schema["paths"]["/api/incidents/"]["post"]["responses"]

    assert {"200", "201"} <= set(responses)
    assert "external_reference" in responses["200"]["description"]
