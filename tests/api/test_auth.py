"""Who may call the API: tokens (hashed, scoped, revocable), sessions, model permissions
of the token's owner, and the rate limit per token."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import override_settings
from django.utils import timezone

from core.actors import Actor
from core.api.models import ApiToken
from core.api.services import token_revoke
from incidents.models import SecurityIncident
from tests.builders.api import LIST_URLS as RESOURCE_LISTS
from tests.builders.api import client_with, make_token
from tests.factories import UserFactory

LIST_URLS = [*RESOURCE_LISTS, "/api/schema/", "/api/docs/"]

NEW_INCIDENT = {"short_description": "Port scan", "category": "malware", "priority": 3}


@pytest.mark.parametrize("url", LIST_URLS)
def test_an_anonymous_caller_gets_401_everywhere(anonymous, url, db):
    response = anonymous.get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_an_anonymous_post_gets_401_and_opens_nothing(anonymous, db):
    response = anonymous.post("/api/incidents/", NEW_INCIDENT, format="json")

    assert response.status_code == 401
    assert not SecurityIncident.objects.exists()


def test_a_valid_token_reads(siem):
    assert siem.get("/api/incidents/").status_code == 200


def test_a_revoked_token_gets_401(write_token, integration):
    token = ApiToken.objects.get()
    token_revoke(actor=Actor.system(), token=token)

    response = client_with(write_token).get("/api/incidents/")

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or revoked token."}
    assert ApiToken.objects.get().revoked_at is not None


@pytest.mark.parametrize(
    "header",
    ["Bearer soc_not-a-real-token", "Bearer nonsense", "Bearer", "Bearer a b", "Bearer \u00e9"],
)
def test_an_unknown_or_malformed_token_gets_401(db, header):
    response = client_with().get("/api/incidents/", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401


def test_a_token_of_a_deactivated_owner_gets_401(write_token, integration):
    integration.is_active = False
    integration.save()

    assert client_with(write_token).get("/api/incidents/").status_code == 401


def test_a_read_only_token_cannot_write(reader, db):
    response = reader.post("/api/incidents/", NEW_INCIDENT, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "This token is read-only."}
    assert not SecurityIncident.objects.exists()


def test_a_read_only_token_cannot_use_actions(reader, incident):
    response = reader.post(
        f"/api/incidents/{incident.number}/transition/", {"to_state": "analysis"}, format="json"
    )

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.state == "draft"


def test_a_token_can_do_no_more_than_its_owner(db):
    nobody = UserFactory(username="no-groups")
    client = client_with(make_token(nobody))

    assert client.get("/api/incidents/").status_code == 403
    assert client.post("/api/incidents/", NEW_INCIDENT, format="json").status_code == 403
    assert not SecurityIncident.objects.exists()


def test_a_write_token_is_limited_by_its_owners_permissions(incident):
    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_securityincident"),
        Permission.objects.get(codename="view_timelineentry"),
    )
    client = client_with(make_token(viewer))

    assert client.get(f"/api/incidents/{incident.number}/timeline/").status_code == 200
    response = client.post(
        f"/api/incidents/{incident.number}/transition/", {"to_state": "analysis"}, format="json"
    )
    assert response.status_code == 403
    assert client.delete(f"/api/incidents/{incident.number}/").status_code == 403
    incident.refresh_from_db()
    assert incident.state == "draft"


def test_the_token_is_stored_only_as_its_hash(write_token):
    token = ApiToken.objects.get()

    assert write_token.startswith("soc_") and len(write_token) >= 4 + 43  # 256 bits
    assert token.token_hash == hashlib.sha256(write_token.encode()).hexdigest()
    assert write_token.startswith(token.prefix)
    assert len(token.prefix) < 16
    stored = [str(v) for v in ApiToken.objects.values_list(flat=False).get()]
    assert write_token not in stored


def test_last_used_is_recorded_at_most_once_a_minute(siem, django_assert_num_queries):
    token = ApiToken.objects.get()
    assert token.last_used_at is None

    siem.get("/api/runbooks/")
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    siem.get("/api/runbooks/")
    assert ApiToken.objects.get().last_used_at == first

    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    siem.get("/api/runbooks/")
    assert ApiToken.objects.get().last_used_at > first


def test_an_analyst_session_works_for_the_browsable_api(client, analyst):
    client.force_login(analyst)

    response = client.get("/api/incidents/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"Incident" in response.content


def test_a_session_post_needs_the_csrf_token(analyst, db):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(analyst)

    response = client.post("/api/incidents/", NEW_INCIDENT, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not SecurityIncident.objects.exists()


def test_an_analyst_session_acts_as_the_analyst(analyst, db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(analyst)

    response = client.post("/api/incidents/", NEW_INCIDENT, format="json")

    assert response.status_code == 201
    entry = SecurityIncident.objects.get().timeline.get(kind="incident.opened")
    assert (entry.actor_kind, entry.actor_user) == ("analyst", analyst)


@override_settings(API_RATE_PER_MINUTE=3)
def test_each_token_has_its_own_rate_limit(siem, integration):
    other = client_with(make_token(integration, name="Elastic"))

    codes = [siem.get("/api/runbooks/").status_code for _ in range(4)]

    assert codes == [200, 200, 200, 429]
    assert other.get("/api/runbooks/").status_code == 200


# --- the admin ----------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def test_the_admin_shows_a_new_token_once(client, superuser, integration):
    client.force_login(superuser)

    response = client.post(
        "/admin/api/apitoken/add/",
        {"name": "Wazuh", "user": integration.pk, "scope": "write"},
    )

    assert response.status_code == 302
    token = ApiToken.objects.get(name="Wazuh")
    [shown] = [m.message for m in get_messages(response.wsgi_request) if "copy it" in m.message]
    raw = shown.split("is: ")[1].split(" ")[0]
    assert hashlib.sha256(raw.encode()).hexdigest() == token.token_hash
    assert (token.user, token.scope, token.created_by) == (integration, "write", superuser)
    shown_once = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert raw in shown_once
    later = client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert raw not in later
    assert token.prefix in later
    assert client_with(raw).get("/api/incidents/").status_code == 200


def test_the_admin_lists_tokens_and_revokes_them(client, superuser, write_token):
    client.force_login(superuser)
    token = ApiToken.objects.get()

    listing = client.get("/admin/api/apitoken/").content.decode()
    assert token.prefix in listing and "Splunk ES" in listing

    client.post(
        "/admin/api/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )

    assert ApiToken.objects.get().revoked_at is not None
    assert client_with(write_token).get("/api/incidents/").status_code == 401


def test_only_superusers_manage_tokens(client, analyst):
    client.force_login(analyst)

    assert client.get("/admin/api/apitoken/").status_code == 403


def test_a_token_never_reaches_a_log_line(write_token, caplog):
    import logging

    from core.logging import RedactSecretsFilter

    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "Bad header %s", (write_token,), None
    )
    RedactSecretsFilter().filter(record)

    assert write_token not in record.getMessage()
    assert "soc_[redacted]" in record.getMessage()


def test_the_api_root_lists_the_endpoints_to_any_signed_in_caller(siem, anonymous):
    assert anonymous.get("/api/").status_code == 401

    response = siem.get("/api/")

    assert response.status_code == 200
    assert response.json()["incidents"].endswith("/api/incidents/")


def test_a_signed_in_analyst_reads_the_schema_and_the_docs_page(client, analyst):
    client.force_login(analyst)

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert "/api/incidents/" in schema.json()["paths"]
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    # Served from our own static files: no third-party script on a security tool's page.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content
    assert b"cdn.jsdelivr.net" not in docs.content
