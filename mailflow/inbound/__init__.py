"""Inbound email, in the order a message passes through it.

1. Receive (mailflow.inbound.receive, called by mailflow.webhooks and mailflow.receivers):
   store what a provider posts under a de-duplication key and enqueue its processing
   after commit. A message anymail read in the request (Amazon SES) is kept as raw MIME;
   a post too large to read in the request (Postmark, Mailgun, SendGrid) is spooled to
   disk and kept as it came. A message read from a mailbox or received by our own SMTP
   server is kept as raw MIME too (inbound_store_raw). The same message or post again is
   the same row, whichever route brought it.
2. Read a stored post (mailflow.inbound.stored_post): the worker reads such a post with
   the provider's own anymail parser (read_stored_post) and stores the message it carries
   in place of the post; a post it cannot read fails at once, kept for an analyst.
3. Process (mailflow.inbound.process), a task, all or nothing; pure reading in
   mailflow.parsing, every write through a service:
   a. Classify: our own mail looping back, bounce, read receipt, auto-reply, or a reply.
   b. Correlate: the reply+TOKEN address, then In-Reply-To/References against the
      Message-IDs we sent, then the [SIR…] subject tag. Never free subject text. Only
      the first two carry a secret of ours: a reply or bounce matched by the tag alone is
      held for an analyst to verify (mailflow.inbound_review) and moves nothing by itself.
   c. Verify the sender: From must be the person asked; the provider's spam and
      SPF/DKIM/DMARC verdicts must not fail.
   d. Read the answer from the reply without its quoted part; file the attachments.
   e. Record it with answer_record, the same entry as the answer page.
4. Retry (mailflow.inbound.retry): every attempt is counted before it starts; a failed
   one is retried up to MAX_ATTEMPTS, then the message is failed with its reason, and an
   analyst can reprocess it after a fix. A sweep brings back messages left unprocessed
   by a lost enqueue or a killed worker.

The names below are those the tasks (mailflow.tasks), the admin and the webhooks use.
"""

from mailflow.inbound.process import inbound_process
from mailflow.inbound.receive import (
    EmptyMessage,
    SpooledPost,
    inbound_receive,
    inbound_store,
    inbound_store_raw,
    spool_post,
)
from mailflow.inbound.retry import MAX_ATTEMPTS, STUCK_AFTER, inbound_reprocess, inbound_sweep
from mailflow.inbound.stored_post import POST_PARSERS, MalformedPost, read_stored_post

__all__ = [
    "MAX_ATTEMPTS",
    "POST_PARSERS",
    "STUCK_AFTER",
    "EmptyMessage",
    "MalformedPost",
    "SpooledPost",
    "inbound_process",
    "inbound_receive",
    "inbound_reprocess",
    "inbound_store",
    "inbound_store_raw",
    "inbound_sweep",
    "read_stored_post",
    "spool_post",
]
