"""Stored posts: a provider's post kept as it came because it was too large to read in
the request (mailflow.webhooks), read by the worker before processing. Reading gives
anymail's event for the message; unpacking then stores that message on the row in place
of the post, as if it had been read in the request."""

from io import BytesIO
from typing import Any

from anymail.webhooks.base import AnymailBaseWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.core.files.base import ContentFile
from django.core.handlers.wsgi import WSGIRequest
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from mailflow import providers
from mailflow.inbound.post_body import use_body
from mailflow.inbound.receive import describe_event
from mailflow.models import InboundEmail
from mailflow.webhook_errors import BAD_INPUT, bad_input_reason

Status = InboundEmail.Status

# Providers whose inbound posts the webhook keeps as they came (mailflow.webhooks); the
# worker parses them with anymail's own view. Their posts carry one message each.
POST_PARSERS: dict[str, type[AnymailBaseWebhookView]] = {
    "Postmark": PostmarkInboundWebhookView,
    "Mailgun": MailgunInboundWebhookView,
    "SendGrid": SendGridInboundWebhookView,
}


class MalformedPost(ValueError):
    """A stored post anymail cannot read: failed at once, since reading it again cannot
    succeed; the post stays for an analyst."""


def read_stored_post(inbound: InboundEmail) -> Any:
    """anymail's event for the one message in `inbound`'s stored post.

    The post is read from storage and handed, in a request rebuilt around it (its content
    type and body), to the provider's own anymail webhook view (POST_PARSERS), whose
    parser turns it into the event. Why: the post was too large to read in the request,
    so the webhook kept it as it came; read here with the same parser, a large message
    becomes the same event a small one does in the request. The webhook's checks (the
    secret, Mailgun's signature) ran when the post arrived and are not repeated.

    Raises MalformedPost when anymail cannot read the post (any of BAD_INPUT, MIME nested
    too deeply included) or it holds other than one message. A failure to read the file
    from storage is raised as it is: another attempt may succeed."""
    with inbound.post.open("rb") as handle:
        body = handle.read()
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "443",
            "wsgi.url_scheme": "https",
            "CONTENT_TYPE": inbound.post_content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": BytesIO(body),
        }
    )
    try:
        use_body(request, body)
        providers.refuse_deep_post(request)
        events = POST_PARSERS[inbound.provider]().parse_events(request)
    except BAD_INPUT as error:
        raise MalformedPost(
            f"The provider's post could not be read ({bad_input_reason(error)}); it is kept "
            "as it came."
        ) from error
    if len(events) != 1:
        raise MalformedPost(f"The provider's post holds {len(events)} messages, not one.")
    return events[0]


def stored_post_unpack(inbound: InboundEmail, written: list[FieldFile]) -> bytes | None:
    """Turn the locked row's stored post into the message it carries: the row gets the
    raw MIME (its file added to `written`, for the caller to remove if the transaction
    rolls back), the message's fields and its de-duplication key; the post file goes after
    commit. Returns the raw MIME, or None when the message was received before in another
    post (the provider sent it again with a new event id): then the row is a duplicate."""
    raw, key, fields = describe_event(read_stored_post(inbound))
    post, post_key = inbound.post.name, inbound.dedupe_key
    inbound.raw.save("message.eml", ContentFile(raw), save=False)
    written.append(inbound.raw)
    for name, value in fields.items():
        setattr(inbound, name, value)
    inbound.post, inbound.dedupe_key = "", key
    try:
        with transaction.atomic():
            inbound.save(update_fields=["raw", "post", "dedupe_key", *fields])
    except IntegrityError:
        original = InboundEmail.objects.get(dedupe_key=key)
        inbound.dedupe_key, inbound.status = post_key, Status.DUPLICATE
        inbound.reason = f"The same message as inbound email {original.pk}, delivered again."
        inbound.processed_at = timezone.now()
        inbound.save(update_fields=["raw", "post", "status", "reason", "processed_at", *fields])
        raw = None
    transaction.on_commit(lambda: inbound.post.storage.delete(post), robust=True)
    return raw
