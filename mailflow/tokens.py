"""Answer-link, reply-address and bounce-address tokens.

All are derived from SECRET_KEY and a random per-request nonce (HMAC-SHA256), so they can
be rebuilt for a reminder without ever being stored; the database keeps only their SHA-256
for lookup. A token is 256 bits (link) or 160 bits (reply and bounce address) of
unguessable data. The bounce token has a salt of its own: the reply address is shown to
the person, the bounce address travels only in the envelope, and knowing one gives no
way to write the other.
"""

import base64
import hashlib
import secrets

from django.utils.crypto import salted_hmac


def new_nonce() -> str:
    return secrets.token_hex(16)


def page_token(nonce: str) -> str:
    digest = salted_hmac("mailflow.page-token", nonce, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def reply_token(nonce: str) -> str:
    # Lower-case base32: mail systems may change the case of an address's local part.
    digest = salted_hmac("mailflow.reply-token", nonce, algorithm="sha256").digest()[:20]
    return base64.b32encode(digest).decode().lower()


def bounce_token(nonce: str) -> str:
    # The envelope sender `bounce+TOKEN@REPLY_DOMAIN`: same form as the reply token.
    digest = salted_hmac("mailflow.bounce-token", nonce, algorithm="sha256").digest()[:20]
    return base64.b32encode(digest).decode().lower()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
