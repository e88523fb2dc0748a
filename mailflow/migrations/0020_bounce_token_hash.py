"""The bounce-address token's hash, for the envelope sender bounce+TOKEN@REPLY_DOMAIN.

The column is added nullable (on PostgreSQL a metadata-only change, however many requests
there are), then existing requests get their hash in chunks, so a long history is neither
loaded at once nor written in one statement per row. The token is computed here as
mailflow.tokens.bounce_token computes it, written out so that a later change to that
module cannot change what this migration did."""

import base64
import hashlib

from django.db import migrations, models
from django.utils.crypto import salted_hmac

CHUNK = 1000


def _bounce_token_hash(nonce: str) -> str:
    digest = salted_hmac("mailflow.bounce-token", nonce, algorithm="sha256").digest()[:20]
    token = base64.b32encode(digest).decode().lower()
    return hashlib.sha256(token.encode()).hexdigest()


def fill_bounce_token_hashes(apps, schema_editor):
    ConfirmationRequest = apps.get_model("mailflow", "ConfirmationRequest")
    missing = ConfirmationRequest.objects.filter(bounce_token_hash__isnull=True)
    last_pk = 0
    while True:
        # Keyset pagination: each chunk starts after the last, so none scans the rows
        # already filled.
        chunk = list(missing.filter(pk__gt=last_pk).order_by("pk").only("pk", "token_nonce")[:CHUNK])
        if not chunk:
            return
        for request in chunk:
            request.bounce_token_hash = _bounce_token_hash(request.token_nonce)
        ConfirmationRequest.objects.bulk_update(chunk, ["bounce_token_hash"])
        last_pk = chunk[-1].pk


class Migration(migrations.Migration):
    dependencies = [("mailflow", "0019_mailbox")]

    operations = [
        migrations.AddField(
            model_name="confirmationrequest",
            name="bounce_token_hash",
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.RunPython(fill_bounce_token_hashes, migrations.RunPython.noop),
    ]
