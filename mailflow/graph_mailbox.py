"""Reading a shared Microsoft 365 mailbox through Microsoft Graph, for tenants that have
turned IMAP off: one round of poll_graph_mailbox stores each new message of the folder
as raw MIME (the webhooks' path from there on) and moves it to the processed folder.

A round:
1. Find (or create) the processed folder, before anything is read: a message is stored
   only when it can be moved.
2. Follow the folder's delta from the stored delta link (the whole folder on the first
   round), page by page. An `@removed` entry (deleted or moved away, by us in an earlier
   round or by someone else) is skipped.
3. For each message: read it as MIME (`$value`), store it with inbound_store_raw (its
   row commits there, and its processing is enqueued on that commit), then move it. A
   crash between the two leaves the message in the folder; the next round reads it again
   and the de-duplication key makes it the same row.
4. Only a round that finished with every message stored and moved returns Graph's new
   delta link. Otherwise the old link comes back, and the next round re-reads from it:
   the messages moved since are `@removed` entries there, and the ones left behind (a
   failed read or move, a throttled round) come back as present and are moved then. A
   message left behind does not stop the round: the others are stored and moved. Keeping the
   new link after a failed move would lose the message for good, since a delta returns
   only what changed and a message left where it was has not.

Throttling (429, or 503 with Retry-After) stops the round and reports the wait in
seconds; the caller backs off. Every other failure is a sentence in `error`: nothing is
raised, and no secret or address is written to a log."""

import email.utils
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import DatabaseError, transaction
from django.utils import timezone

from mailflow.graph_client import (
    Gone,
    GraphClient,
    GraphConfig,
    GraphError,
    SyncStateLost,
    Throttled,
    graph_client_for,
)
from mailflow.inbound import inbound_store_raw

logger = logging.getLogger(__name__)

# A 429 without Retry-After: Graph asks for a backoff, this is the first step of it.
DEFAULT_RETRY_AFTER = 60

__all__ = ["GraphConfig", "GraphPollResult", "poll_graph_mailbox"]


@dataclass
class GraphPollResult:
    """What one round did. `stored` counts messages stored (new or seen before), `new`
    the rows it created, `moved` the messages it moved to the processed folder.
    `delta_link` is the link to keep for the next round (the old one unless the round
    finished), `error` a sentence for the operator or "", `retry_after` the seconds to
    wait when Graph throttled the round."""

    stored: int = 0
    new: int = 0
    moved: int = 0
    delta_link: str = ""
    error: str = ""
    retry_after: int | None = None
    more: bool = False  # the round stopped at its budget: the next one carries on


class _BudgetSpent(Exception):
    """The round took its share of messages or time; the rest wait for the next one."""


def poll_graph_mailbox(
    config: GraphConfig,
    delta_link: str,
    *,
    client: GraphClient | None = None,
    now: Callable[[], datetime] = timezone.now,
    max_messages: int | None = None,
    max_seconds: float | None = None,
) -> GraphPollResult:
    """One round over config's folder from `delta_link` ("" for the first round). Run it
    outside a transaction (a task): a message is moved only after its row has committed.
    `client` is the tests' (a session mocked at the transport); by default one client per
    configuration is kept in the process, with its token."""
    result = GraphPollResult(delta_link=delta_link)
    if transaction.get_connection().in_atomic_block:
        result.error = (
            "The Graph mailbox was polled inside a database transaction; messages are moved "
            "only after their rows commit, so the round did not start."
        )
        return result
    client = client or graph_client_for(config)
    deadline = time.monotonic() + max_seconds if max_seconds else None
    try:
        finished_link = _round(client, config, delta_link, result, max_messages, deadline)
    except _BudgetSpent:
        # Unfinished: the old link is kept. Read from it again, what this round moved
        # shows as removed and the rest comes next, so each round gets further.
        result.more = True
    except Throttled as throttled:
        result.error = f"{throttled} The round stops; the next one resumes."
        result.retry_after = _seconds(throttled.retry_after, now())
    except GraphError as error:
        result.error = str(error)
    except DatabaseError as error:
        result.error = (
            f"A message could not be stored ({type(error).__name__}); it stays in the "
            "folder and the next round reads it again."
        )
    except Exception as error:  # never out of a poll: the caller's schedule must go on
        # The stack without the exception's text, which may quote a URL with the address.
        stack = "".join(traceback.format_tb(error.__traceback__))
        logger.error(
            "Graph mailbox %r: unexpected %s\n%s", config.name, type(error).__name__, stack
        )
        result.error = f"The round failed unexpectedly ({type(error).__name__})."
    else:
        if not result.error:
            result.delta_link = finished_link
    if result.error:
        logger.warning("Graph mailbox %r: %s", config.name, result.error)
    return result


def _round(
    client: GraphClient,
    config: GraphConfig,
    delta_link: str,
    result: GraphPollResult,
    max_messages: int | None,
    deadline: float | None,
) -> str:
    """Read, store and move each message of the delta; returns the new delta link. A
    message that could not be read or moved is noted in result.error and the round goes
    on with the others: one message Graph keeps failing must not hold up the rest."""
    destination = client.processed_folder_id()
    link = delta_link or client.delta_start()
    restarted = False
    left: list[GraphError] = []
    while True:
        try:
            items, next_link, new_delta_link = client.delta_page(link)
        except SyncStateLost:
            # The stored link expired: read the folder whole again, once; what was moved
            # has left it, and what was stored before is found by its key.
            if restarted:
                raise
            restarted, link = True, client.delta_start()
            continue
        for item in items:
            message_id = item.get("id")
            if "@removed" in item or not isinstance(message_id, str) or not message_id:
                continue
            try:
                raw = client.message_mime(message_id)
            except Gone:
                continue  # moved or deleted by someone else since the delta listed it
            except Throttled:
                raise
            except GraphError as error:
                left.append(error)
                continue
            new = inbound_store_raw(source=f"Graph {config.name}", raw=raw)[1]
            del raw  # a large message's one copy goes before the next is read
            result.stored += 1
            result.new += new
            try:
                client.move(message_id, destination)
            except Throttled:
                raise
            except GraphError as error:
                # Stored, not moved. A 404 is the message gone (the next round sees it
                # removed) or the processed folder deleted (found or made again then).
                if isinstance(error, Gone):
                    client.forget_processed_folder()
                left.append(error)
            else:
                result.moved += 1
            if (max_messages and result.stored >= max_messages) or (
                deadline and time.monotonic() > deadline
            ):
                raise _BudgetSpent
        if next_link:
            link = next_link
            continue
        if left:
            result.error = (
                f"{len(left)} message(s) could not be read, or stored but not moved to the "
                f"processed folder ({left[0]}); they stay in the folder, and the next round "
                "reads them again from the previous delta link."
            )
        return new_delta_link


def _seconds(retry_after: str, now: datetime) -> int:
    """Retry-After as seconds to wait: a number of seconds or an HTTP date."""
    value = retry_after.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        return DEFAULT_RETRY_AFTER
    return max(0, int((when - now).total_seconds()))
