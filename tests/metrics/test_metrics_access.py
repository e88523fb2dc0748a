"""Who may read /metrics: off (404) until a token or client networks are set; a missing or
wrong token is 401, an address outside the networks 403, neither with any detail."""

import pytest

from tests.builders.metrics import TOKEN

METRICS = "/metrics"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_metrics(response) -> None:
    assert response.status_code == 200
    assert b"# TYPE soc_questions_sent_total counter" in response.content
    assert response["Cache-Control"].startswith("max-age=0")


def assert_refused_without_detail(response, status: int) -> None:
    assert response.status_code == status
    assert response.content == b""


@pytest.fixture
def token_only(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


@pytest.fixture
def networks_only(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16", "192.0.2.7", "2001:db8::/32"]


def test_without_token_or_networks_the_endpoint_is_off(db, client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []

    response = client.get(METRICS, **bearer(TOKEN))

    assert response.status_code == 404
    assert b"soc_" not in response.content


@pytest.mark.usefixtures("token_only")
def test_the_right_bearer_token_reads_the_metrics(db, client):
    assert_metrics(client.get(METRICS, **bearer(TOKEN)))
    assert_metrics(client.get(METRICS, HTTP_AUTHORIZATION=f"bearer  {TOKEN} "))


@pytest.mark.usefixtures("token_only")
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        "Bearer tökén-ünicode",
        "Bearer \x00",
    ],
)
def test_a_missing_or_wrong_token_is_401_without_detail(db, client, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    response = client.get(METRICS, **headers)

    assert_refused_without_detail(response, 401)
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.usefixtures("networks_only")
@pytest.mark.parametrize("address", ["10.20.3.4", "192.0.2.7", "2001:db8::1", "::ffff:10.20.0.9"])
def test_a_client_in_the_allowed_networks_reads_the_metrics_without_a_token(db, client, address):
    assert_metrics(client.get(METRICS, REMOTE_ADDR=address))


@pytest.mark.usefixtures("networks_only")
@pytest.mark.parametrize("address", ["10.21.0.1", "192.0.2.8", "127.0.0.1", "2001:db9::1", ""])
def test_a_client_outside_the_networks_is_403_without_detail(db, client, address):
    assert_refused_without_detail(client.get(METRICS, REMOTE_ADDR=address), 403)


@pytest.mark.usefixtures("networks_only")
@pytest.mark.parametrize("trusted", [False, True])
def test_x_forwarded_for_never_opens_the_metrics(db, client, settings, trusted):
    # A proxy that appends to the header leaves its first entry to the client.
    settings.TRUST_X_FORWARDED_FOR = trusted
    forwarded = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "10.20.1.1, 203.0.113.9"}

    assert_refused_without_detail(client.get(METRICS, **forwarded), 403)
    direct = {"REMOTE_ADDR": "10.20.1.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    assert_metrics(client.get(METRICS, **direct))


def test_with_both_set_a_client_needs_the_network_and_the_token(db, client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["10.20.0.0/16"]
    inside = {"REMOTE_ADDR": "10.20.3.4"}

    assert_metrics(client.get(METRICS, **inside, **bearer(TOKEN)))
    assert_refused_without_detail(client.get(METRICS, **inside), 401)
    outside = {"REMOTE_ADDR": "10.21.0.1"}
    assert_refused_without_detail(client.get(METRICS, **outside, **bearer(TOKEN)), 403)


@pytest.mark.usefixtures("token_only")
def test_only_get_and_head_are_answered(db, client):
    assert client.post(METRICS, **bearer(TOKEN)).status_code == 405
    assert client.head(METRICS, **bearer(TOKEN)).status_code == 200
