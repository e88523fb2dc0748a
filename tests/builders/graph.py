"""Microsoft Graph and Entra ID as the Graph mailbox reader meets them, at the transport:
a requests adapter, mounted on the client's session, answers from responses recorded in
Graph's documented shapes (tests/mailflow/graph/) over a small mailbox held in memory. A
delta link remembers which messages the folder held when its round began, so the next
round lists what arrived since and `@removed` entries for what left, as Graph does.

Only this leaves the process in production; everything behind poll_graph_mailbox (MSAL,
the store, the processing, the runbook) runs for real."""

import base64
import copy
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from mailflow.graph_client import (
    GRAPH,
    GraphClient,
    GraphConfig,
    TimeoutSession,
    graph_client_for,
)

RECORDED = Path(__file__).parent.parent / "mailflow" / "graph"
TENANT = "0f3c9d1e-7a52-4c1e-9b8e-2d5f6a7b8c9d"
CLIENT_ID = "5b1e0c7d-3f4a-4e2b-8c6d-9a0b1c2d3e4f"
CLIENT_SECRET = "Zx8Q~recorded.client-secret.value"
MAILBOX = "soc-replies@corp.example.com"
CONFIG = GraphConfig(
    name="Replies",
    tenant_id=TENANT,
    client_id=CLIENT_ID,
    client_secret=CLIENT_SECRET,
    mailbox=MAILBOX,
)


def recorded(name: str) -> Any:
    return json.loads((RECORDED / f"{name}.json").read_text())


TOKEN = recorded("token")["access_token"]
PROCESSED_ID = recorded("mail-folders")["value"][0]["id"]
USER_PATH = f"/v1.0/users/{MAILBOX}"


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | str | None
    timeout: Any


@dataclass
class Fault:
    """The answer to the next request(s) whose method and URL match, instead of the
    mailbox's: a status with a recorded body, or an exception raised at the transport."""

    method: str
    url_part: str
    status: int = 0
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raises: BaseException | None = None
    times: int = 1


class FakeGraph(BaseAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.inbox: dict[str, bytes] = {}
        self.processed: dict[str, bytes] = {}
        self.has_processed_folder = True
        self.page_size = 2
        self.sent: list[Sent] = []
        self.faults: list[Fault] = []
        self._delivered = 0
        self._snapshots: dict[str, frozenset[str]] = {}
        self._rounds: dict[str, list[dict]] = {}

    # --- what a test does ----------------------------------------------------------------

    def deliver(self, raw: bytes | str) -> str:
        """A message arrives in the inbox; returns its Graph id."""
        self._delivered += 1
        message_id = f"AAMkADNkNAAASq35x{self._delivered:04d}AAA="
        self.inbox[message_id] = raw.encode() if isinstance(raw, str) else raw
        return message_id

    def fail(self, method: str, url_part: str, **answer: Any) -> None:
        self.faults.append(Fault(method, url_part, **answer))

    def client(self, config: GraphConfig = CONFIG) -> GraphClient:
        session = TimeoutSession()
        session.mount("https://", self)
        session.mount("http://", self)
        return GraphClient(config, session=session)

    def serve_every_client(self, monkeypatch) -> None:
        """Answer the clients production makes (graph_client_for, one per configuration):
        their sessions' transport is this fake, everything above it is real."""
        fake = self

        class FakeTransportSession(TimeoutSession):
            def __init__(self) -> None:
                super().__init__()
                self.mount("https://", fake)
                self.mount("http://", fake)

        monkeypatch.setattr("mailflow.graph_client.TimeoutSession", FakeTransportSession)
        graph_client_for.cache_clear()  # no client kept from another test's transport

    def requests_to(self, method: str, url_part: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method and url_part in s.url]

    # --- the transport -------------------------------------------------------------------

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self.sent.append(
            Sent(request.method, request.url, dict(request.headers), request.body, timeout)
        )
        for fault in self.faults:
            if fault.times and fault.method == request.method and fault.url_part in request.url:
                fault.times -= 1
                if fault.raises is not None:
                    raise fault.raises
                return _response(request, fault.status, recorded(fault.body), fault.headers)
        return self._answer(request)

    def close(self) -> None:
        pass

    def _answer(self, request) -> requests.Response:
        url = urlsplit(request.url)
        path, query = unquote(url.path), parse_qs(url.query)
        if url.netloc == "login.microsoftonline.com":
            return self._entra(request, path)
        if url.netloc != "graph.microsoft.com":
            raise requests.ConnectionError(f"no route to {url.netloc}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _response(request, 401, recorded("error-401"))
        if not path.startswith(USER_PATH + "/"):
            return _response(request, 404, recorded("error-404"))
        rest = path.removeprefix(USER_PATH + "/")
        if rest == "mailFolders" and request.method == "GET":
            folders = recorded("mail-folders")
            if not self.has_processed_folder:
                folders["value"] = []
            return _response(request, 200, folders)
        if rest == "mailFolders" and request.method == "POST":
            self.has_processed_folder = True
            return _response(request, 201, recorded("mail-folder-created"))
        if rest.startswith("mailFolders") and rest.endswith("/messages/delta"):
            return self._delta(request, query)
        if rest.startswith("messages/") and rest.endswith("/$value"):
            message_id = rest.removeprefix("messages/").removesuffix("/$value")
            if message_id not in self.inbox:
                return _response(request, 404, recorded("error-404"))
            return _response(request, 200, self.inbox[message_id], {"Content-Type": "text/plain"})
        if rest.startswith("messages/") and rest.endswith("/move"):
            return self._move(request, rest.removeprefix("messages/").removesuffix("/move"))
        return _response(request, 404, recorded("error-404"))

    def _entra(self, request, path: str) -> requests.Response:
        if path == "/common/discovery/instance":  # MSAL asks for aliases after a refusal
            return _response(request, 200, recorded("instance-discovery"))
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return _response(request, 200, recorded("openid-configuration"))
        if path.endswith("/v2.0/.well-known/openid-configuration"):
            return _response(request, 400, recorded("tenant-not-found"))
        if path == f"/{TENANT}/oauth2/v2.0/token" and request.method == "POST":
            form = parse_qs(request.body if isinstance(request.body, str) else "")
            secret = form.get("client_secret") == [CLIENT_SECRET]
            if form.get("client_id") == [CLIENT_ID] and (secret or _signed_by_certificate(form)):
                return _response(request, 200, recorded("token"))
            return _response(request, 401, recorded("token-invalid-client"))
        return _response(request, 404, {"error": "not_found"})

    def _delta(self, request, query: dict[str, list[str]]) -> requests.Response:
        """Pages of one round; the round's changes are fixed at its first request."""
        if skip := query.get("$skiptoken"):
            token, offset = skip[0].rsplit(".", 1)
            changes, start = self._rounds[token], int(offset)
        else:
            base: frozenset[str] = frozenset()
            if delta := query.get("$deltatoken"):
                if delta[0] not in self._snapshots:
                    return _response(request, 410, recorded("error-410"))
                base = self._snapshots[delta[0]]
            token = f"GwcBoTmPuo{len(self._rounds):04d}"
            now = frozenset(self.inbox)
            self._snapshots[token] = now
            changes = [_item("message-delta-item", i) for i in sorted(now - base)]
            changes += [_item("message-removed-item", i) for i in sorted(base - now)]
            self._rounds[token], start = changes, 0
        page = recorded("delta-page")
        page["value"] = changes[start : start + self.page_size]
        link = f"{GRAPH}/users/{MAILBOX}/mailFolders('inbox')/messages/delta"
        if start + self.page_size < len(changes):
            page["@odata.nextLink"] = f"{link}?$skiptoken={token}.{start + self.page_size}"
        else:
            page["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return _response(request, 200, page)

    def _move(self, request, message_id: str) -> requests.Response:
        destination = json.loads(request.body or b"{}").get("destinationId")
        if message_id not in self.inbox or destination != PROCESSED_ID:
            return _response(request, 404, recorded("error-404"))
        moved = recorded("message-moved")
        moved["id"] = f"{message_id}-processed"  # a move gives the message a new id
        self.processed[moved["id"]] = self.inbox.pop(message_id)
        return _response(request, 201, moved)


@cache
def certificate_pem() -> str:
    """The private key and self-signed certificate uploaded to the app registration."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SOC reply reader")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (private + certificate.public_bytes(serialization.Encoding.PEM)).decode()


def _signed_by_certificate(form: dict[str, list[str]]) -> bool:
    """Entra ID's check of a client assertion: a JWT for this token endpoint, signed by
    the key of the certificate its x5t#S256 header names."""
    if form.get("client_assertion_type") != [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]:
        return False
    assertion = form.get("client_assertion", [""])[0]
    certificate = x509.load_pem_x509_certificate(certificate_pem().encode())
    try:
        named = str(jwt.get_unverified_header(assertion).get("x5t#S256", ""))
        # base64, padded or url-safe: Entra ID reads either.
        named = named.replace("-", "+").replace("_", "/")
        if base64.b64decode(named + "=" * (-len(named) % 4)) != certificate.fingerprint(
            hashes.SHA256()
        ):
            return False
        claims = jwt.decode(
            assertion,
            certificate.public_key(),
            algorithms=["PS256", "RS256"],
            audience=f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token",
        )
    except (jwt.PyJWTError, ValueError):
        return False
    return claims.get("iss") == claims.get("sub") == CLIENT_ID


def _item(template: str, message_id: str) -> dict:
    item = copy.deepcopy(recorded(template))
    item["id"] = message_id
    return item


def _response(request, status: int, body: Any, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.request = request
    response.url = request.url
    response.reason = "recorded"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.headers = CaseInsensitiveDict(
        {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )
    # Read as the network would be: in chunks, as the client asks for them.
    response.raw = io.BytesIO(content)
    return response
