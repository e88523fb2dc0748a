"""How the provider webhooks tell failures apart: a database outage is worth the
provider's retry (503), bad input never is (400). Shared by the webhook middleware, the
webhook views, the worker reading a stored post, and the error pages."""

import binascii
import email.errors

from django.db import InterfaceError, OperationalError
from django.http.multipartparser import MultiPartParserError

# A lock held past the busy timeout, a refused or dropped connection: worth retrying. Not
# DataError or IntegrityError: those are the request's, and retrying them changes nothing.
DATABASE_OUTAGE = (OperationalError, InterfaceError)

WEBHOOK_PREFIX = "/anymail/"

# What reading a malformed payload raises in anymail and the email package. JSON and
# Unicode errors and binascii.Error are ValueErrors; MultiPartParserError is our parser's.
BAD_INPUT = (
    ValueError,
    LookupError,  # KeyError, IndexError, and an unknown charset
    TypeError,
    AttributeError,
    binascii.Error,
    email.errors.MessageError,
    MultiPartParserError,
    # The email package parses nested parts recursively: a message nested some 1,000
    # levels deep exhausts the stack. Reading it again cannot succeed either.
    RecursionError,
)


def bad_input_reason(exception: Exception) -> str:
    """What was wrong, for the provider and the analyst: the exception's type (never its
    message, which can quote the payload), and for the one that says little, its cause."""
    name = type(exception).__name__
    if isinstance(exception, RecursionError):
        return f"{name}: the MIME parts are nested too deeply to read"
    return name
