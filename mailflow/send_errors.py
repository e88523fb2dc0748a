"""What a failed send means: "later" (the provider is throttling, down, or the connection
dropped), "never" (the provider refuses this recipient), or an error worth a few more tries.

Throttling must never make a question undeliverable: a campaign to the whole company
through a rate-limited account is mostly "later". Only the provider's word about the
recipient ends it.
"""

import enum
import smtplib

import requests
from anymail.exceptions import AnymailRecipientsRefused


class SendFailure(enum.Enum):
    LATER = "later"  # throttled, a provider outage, a connection error: retry, uncounted
    REFUSED = "refused"  # the recipient is invalid or suppressed: undeliverable now
    FAILED = "failed"  # anything else (a 4xx, a bug): a counted attempt


# Amazon SES (boto3 ClientError codes, which anymail passes on as the error's response).
_AWS_LATER_CODES = {
    "Throttling",
    "ThrottlingException",
    "MaxSendRateExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
}
# botocore's connection errors are not builtin ones; anymail wraps them, keeping the cause.
_CONNECTION_ERROR_NAMES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
}


def send_failure_kind(error: BaseException) -> SendFailure:
    # Only the provider's word about the recipient. anymail's AnymailInvalidAddress may
    # be about our own From or Reply-To (a configuration typo): a counted attempt, so a
    # mistake of ours does not end every question at once.
    if isinstance(error, AnymailRecipientsRefused):
        return SendFailure.REFUSED
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return SendFailure.REFUSED if all(c >= 500 for c in codes) else SendFailure.LATER
    if isinstance(error, smtplib.SMTPResponseException):
        return SendFailure.LATER if 400 <= error.smtp_code < 500 else SendFailure.FAILED
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return SendFailure.LATER if status in (408, 429) or status >= 500 else SendFailure.FAILED
    code = _aws_error_code(error)
    if code:
        return SendFailure.LATER if code in _AWS_LATER_CODES else SendFailure.FAILED
    if _is_connection_error(error):
        return SendFailure.LATER
    return SendFailure.FAILED


def _aws_error_code(error: BaseException) -> str:
    for candidate in (error, error.__cause__):
        response = getattr(candidate, "response", None)
        if isinstance(response, dict):
            return str((response.get("Error") or {}).get("Code") or "")
    return ""


def _is_connection_error(error: BaseException) -> bool:
    """requests' connection errors and timeouts (anymail's AnymailRequestsAPIError is also
    one of them when the post never got an answer), OSError (an SMTP disconnect is one), and
    botocore's, by name."""
    seen: BaseException | None = error
    for _ in range(5):  # the error and its causes
        if seen is None:
            return False
        if isinstance(seen, (requests.ConnectionError, requests.Timeout, OSError)):
            return True
        if _CONNECTION_ERROR_NAMES & {cls.__name__ for cls in type(seen).__mro__}:
            return True
        seen = seen.__cause__
    return False


def describe_send_failure(error: BaseException) -> str:
    """A short, plain reason for the timeline and the admin (the first line only: an
    anymail error's further lines quote the provider's whole response)."""
    status = getattr(error, "status_code", None)
    code = _aws_error_code(error)
    if status == 429 or code in ("Throttling", "ThrottlingException", "MaxSendRateExceeded"):
        what = "the provider is throttling (over the account's send rate)"
    elif isinstance(status, int) and status >= 500:
        what = f"the provider answered HTTP {status}"
    elif _is_connection_error(error):
        what = "the connection to the provider failed"
    else:
        what = "the provider asked to try again later"
    text = error_text(error).strip()
    detail = text.splitlines()[0] if text else ""
    return f"{what} ({type(error).__name__}{': ' + detail[:200] if detail else ''})"


def error_text(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # an exception whose str() fails (anymail's, without a response)
        return repr(error.args)
