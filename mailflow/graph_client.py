"""Microsoft Graph for one shared mailbox, with an app-only token: the few calls a mailbox
reader needs (a delta page of a folder, a message as MIME, a move, the processed folder),
each turning Graph's and Entra ID's failures into a GraphError whose sentence an operator
can act on, free of secrets and addresses.

MSAL acquires the token with the client credentials and keeps it in memory until shortly
before it expires, so a client kept between rounds (graph_client_for) asks Entra ID once
an hour, not once a round. Every request, MSAL's included, goes through one
requests.Session with timeouts, which the tests replace at the transport."""

import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

GRAPH = "https://graph.microsoft.com/v1.0"
LOGIN = "https://login.microsoftonline.com"
SCOPES = ["https://graph.microsoft.com/.default"]
# Connect, then read between bytes: a stalled Graph must not hold a worker.
TIMEOUT = (10, 60)
PAGE_SIZE = 50
_CHUNK = 64 * 1024
# A message up to this size is downloaded in memory; past it, to a temporary file.
_SPOOL_BYTES = 1024 * 1024
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,253}")
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,80}")
# Entra ID's AADSTS codes an operator meets when setting the app up, and what they mean.
_ENTRA_CODES = {
    7000215: "the client secret is wrong (use the secret's value, not its id)",
    7000222: "the client secret has expired: create a new one",
    700016: "the client id names no application in this tenant",
    90002: "the tenant id names no tenant",
    65001: "an administrator has not consented to the app's permissions",
}


@dataclass(frozen=True)
class GraphConfig:
    """One shared mailbox read through Graph. The app signs in with a client secret, or
    with a certificate: `client_certificate` is PEM text holding its private key
    (unencrypted) and the certificate uploaded to the app registration; the certificate
    wins when both are given. The caller reads them from the environment; neither they
    nor the mailbox's address appear in a repr or a log."""

    name: str
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    mailbox: str = field(repr=False)
    folder: str = "inbox"
    processed_folder: str = "Processed"
    client_certificate: str = field(default="", repr=False)


class GraphError(Exception):
    """A failure of Graph or Entra ID, as one sentence for an operator, with Graph's
    HTTP status when it answered."""

    def __init__(self, sentence: str, status: int = 0) -> None:
        super().__init__(sentence)
        self.status = status


class Throttled(GraphError):
    """429, or 503 with Retry-After: the round stops and the caller waits. `retry_after`
    is the header as Graph sent it (seconds or an HTTP date)."""

    def __init__(self, sentence: str, retry_after: str, status: int = 429) -> None:
        super().__init__(sentence, status)
        self.retry_after = retry_after


class Gone(GraphError):
    """404 on a message: moved or deleted by someone else since the delta listed it."""


class SyncStateLost(GraphError):
    """410 on a delta link: Graph no longer knows its state; the round starts over."""


class TimeoutSession(requests.Session):
    """A session whose every request has a timeout, MSAL's too (it passes none)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


@lru_cache(maxsize=32)
def graph_client_for(config: GraphConfig) -> "GraphClient":
    """One client per configuration in this process, so its token is reused."""
    return GraphClient(config)


class GraphClient:
    def __init__(self, config: GraphConfig, *, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or TimeoutSession()
        self._app: msal.ConfidentialClientApplication | None = None
        self._processed_folder_id = ""
        self._user = f"{GRAPH}/users/{_segment(config.mailbox)}"

    # --- the calls -----------------------------------------------------------------------

    def delta_start(self) -> str:
        """The first delta request of a folder never synchronised: all its messages, by
        id alone (the message itself is read as MIME)."""
        return f"{self._user}/mailFolders/{_segment(self.config.folder)}/messages/delta?$select=id"

    def delta_page(self, link: str) -> tuple[list[dict], str, str]:
        """One page of a delta round: its items, and the next link or the delta link."""
        response = self._send("GET", link, headers={"Prefer": f"odata.maxpagesize={PAGE_SIZE}"})
        try:
            page = response.json()
        except ValueError:
            raise GraphError("Microsoft Graph answered the delta query with no JSON.") from None
        items = page.get("value") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise GraphError("Microsoft Graph answered the delta query without a list.")
        next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
        if not isinstance(next_link, str | None) or not isinstance(delta_link, str | None):
            raise GraphError("Microsoft Graph answered the delta query with a malformed link.")
        if not next_link and not delta_link:
            raise GraphError(
                "Microsoft Graph ended a delta page with neither a next nor a delta link."
            )
        items = [item for item in items if isinstance(item, dict)]
        return items, next_link or "", delta_link or ""

    def message_mime(self, message_id: str) -> bytes:
        """The message as it came (`$value`), read in chunks through a temporary file that
        moves to disk past _SPOOL_BYTES: the bytes returned are the one full copy in memory
        (joining chunks, as `response.content` does, would hold two)."""
        url = f"{self._user}/messages/{_segment(message_id)}/$value"
        with (
            self._send("GET", url, stream=True) as response,
            tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool,
        ):
            try:
                for chunk in response.iter_content(_CHUNK):
                    spool.write(chunk)
            except requests.RequestException as error:
                raise GraphError(
                    f"The download of a message from Microsoft Graph broke off "
                    f"({type(error).__name__})."
                ) from None
            spool.seek(0)
            return spool.read()

    def move(self, message_id: str, destination_id: str) -> None:
        url = f"{self._user}/messages/{_segment(message_id)}/move"
        self._send("POST", url, json={"destinationId": destination_id}).close()

    def processed_folder_id(self) -> str:
        """The top-level folder named config.processed_folder, created when missing."""
        if not self._processed_folder_id:
            self._processed_folder_id = self._find_folder() or self._create_folder()
        return self._processed_folder_id

    def forget_processed_folder(self) -> None:
        """Look the processed folder up again next time (someone may have deleted it)."""
        self._processed_folder_id = ""

    def _find_folder(self) -> str:
        name = self.config.processed_folder.replace("'", "''")  # OData string literal
        condition = quote(f"displayName eq '{name}'")
        url = f"{self._user}/mailFolders?$filter={condition}&$select=id,displayName"
        response = self._send("GET", url)
        try:
            folders = response.json().get("value") or []
            return next((str(f["id"]) for f in folders if f.get("id")), "")
        except (ValueError, AttributeError, TypeError, KeyError):
            raise GraphError(
                "Microsoft Graph answered the folder lookup with no folder list."
            ) from None

    def _create_folder(self) -> str:
        try:
            response = self._send(
                "POST",
                f"{self._user}/mailFolders",
                json={"displayName": self.config.processed_folder},
            )
        except GraphError as error:
            # Another poller created it first (409 ErrorFolderExists).
            if error.status == 409 and (found := self._find_folder()):
                return found
            raise
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise GraphError(
                "Microsoft Graph created the processed folder without an id."
            ) from None

    # --- token and transport -------------------------------------------------------------

    def _token(self) -> str:
        config = self.config
        if not _TENANT.fullmatch(config.tenant_id) or not _TENANT.fullmatch(config.client_id):
            raise GraphError("The tenant id or the client id is not a GUID or a domain name.")
        if self._app is None:
            credential = _credential(config)
            try:
                self._app = msal.ConfidentialClientApplication(
                    config.client_id,
                    client_credential=credential,
                    authority=f"{LOGIN}/{config.tenant_id}",
                    http_client=self.session,
                )
            except ValueError:
                # MSAL's own text quotes Entra ID's answer; the sentence is enough.
                raise GraphError(
                    "Microsoft Entra ID does not know this tenant id: check it."
                ) from None
            except requests.RequestException as error:
                raise _unreachable("Microsoft Entra ID", error) from None
        try:
            result = self._app.acquire_token_for_client(scopes=SCOPES)
        except requests.RequestException as error:
            raise _unreachable("Microsoft Entra ID", error) from None
        except msal.exceptions.MsalError as error:
            # MSAL's own requests to Entra ID (its metadata) failed.
            raise GraphError(
                f"Microsoft Entra ID failed ({type(error).__name__}); the next round tries again."
            ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            raise GraphError(_token_refused(result if isinstance(result, dict) else {}))
        return str(token)

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        # The bearer token goes to Graph alone, whatever a stored link says.
        if not url.startswith(f"{GRAPH}/"):
            raise GraphError("A delta link that does not lead to Microsoft Graph was refused.")
        headers = {"Authorization": f"Bearer {self._token()}", **kwargs.pop("headers", {})}
        try:
            response = self.session.request(method, url, headers=headers, **kwargs)
        except requests.RequestException as error:
            raise _unreachable("Microsoft Graph", error) from None
        if response.status_code >= 400:
            with response:
                raise _graph_refused(response)
        return response


def _credential(config: GraphConfig) -> str | dict[str, str]:
    """The secret, or the certificate as MSAL takes it: it signs a client assertion with
    the key and names the certificate by its SHA-256 thumbprint."""
    if not config.client_certificate:
        if not config.client_secret:
            raise GraphError("Neither a client secret nor a client certificate is configured.")
        return config.client_secret
    pem = config.client_certificate.encode()
    try:
        serialization.load_pem_private_key(pem, password=None)
        certificate = x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError):
        raise GraphError(
            "The client certificate is not an unencrypted PEM private key followed by its "
            "certificate."
        ) from None
    return {
        "private_key": config.client_certificate,
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _segment(value: str) -> str:
    """An id, a well-known name or an address as one path segment."""
    return quote(value, safe="@")


def _unreachable(service: str, error: requests.RequestException) -> GraphError:
    if isinstance(error, requests.Timeout):
        return GraphError(f"{service} did not answer in time; the next round tries again.")
    return GraphError(
        f"{service} could not be reached ({type(error).__name__}); the next round tries again."
    )


def _graph_code(response: requests.Response) -> str:
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return ""
    return code if isinstance(code, str) and _CODE.fullmatch(code) else ""


def _graph_refused(response: requests.Response) -> GraphError:
    status, code = response.status_code, _graph_code(response)
    said = f"{status} {code}".strip()
    retry_after = response.headers.get("Retry-After", "")
    if status == 429 or (status in (503, 504) and retry_after):
        return Throttled(f"Microsoft Graph is throttling the app ({said}).", retry_after, status)
    if status == 401:
        return GraphError(
            f"Microsoft Graph refused the app's token ({said}): check the tenant id, the "
            "client id and the secret, and that the app has the Mail.ReadWrite application "
            "permission.",
            status,
        )
    if status == 403:
        return GraphError(
            f"Microsoft Graph denied access to the mailbox ({said}): the app needs the "
            "Mail.ReadWrite application permission with admin consent, and an application "
            "access policy that includes this mailbox.",
            status,
        )
    if status == 404:
        return Gone(f"Microsoft Graph found no such mailbox, folder or message ({said}).", status)
    if status == 410:
        return SyncStateLost(f"Microsoft Graph no longer knows the delta link ({said}).", status)
    if status >= 500:
        return GraphError(f"Microsoft Graph failed ({said}); the next round tries again.", status)
    return GraphError(f"Microsoft Graph refused a request ({said}).", status)


def _token_refused(result: dict) -> str:
    error = result.get("error")
    error = error if isinstance(error, str) and _CODE.fullmatch(error) else "no token"
    codes = [c for c in result.get("error_codes") or [] if isinstance(c, int)]
    meanings = [_ENTRA_CODES[c] for c in codes if c in _ENTRA_CODES]
    said = ", ".join([error, *(f"AADSTS{c}" for c in codes)])
    advice = meanings[0] if meanings else "check the tenant id, the client id and the secret"
    return f"Microsoft Entra ID gave the app no token ({said}): {advice}."
