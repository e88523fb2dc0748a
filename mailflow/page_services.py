"""What the answer page needs besides recording the answer: whether a link still works,
who is visiting (a mail scanner? someone guessing tokens?), and the rate-limit counters.

Counters live in Django's cache with fixed windows. LocMemCache counts per process, so a
deployment with several web processes sets REDIS_URL to share them (see soc/settings.py).
"""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from core.actors import Actor
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.models import ConfirmationRequest
from mailflow.scanners import looks_like_scanner
from mailflow.tokens import token_digest

ANSWER_PAGE = Actor.system("Answer page")

RATE_WINDOW_SECONDS = 600
# Defaults; soc/settings.py reads ANSWER_GUESS_LIMIT and ANSWER_HIT_LIMIT from the env.
GUESS_LIMIT = 20  # unknown tokens per client IP and window
HIT_LIMIT = 60  # visits of one request's links (and posts of its page) per window
# Both option links of one email fetched this close together: a machine, not a person.
BOTH_LINKS_SECONDS = 10

State = ConfirmationRequest.State
# The links of these requests are dead: the neutral page, like an unknown token.
_DEAD_STATES = frozenset(
    {State.CANCELLED, State.NO_ANSWER, State.UNDELIVERABLE, State.OUT_OF_OFFICE}
)


# --- links ------------------------------------------------------------------------------


def request_for_token(token: str) -> ConfirmationRequest | None:
    return (
        ConfirmationRequest.objects.select_related("incident", "person", "task")
        .filter(token_hash=token_digest(token))
        .first()
    )


def request_for_page(request_id: object) -> ConfirmationRequest | None:
    """The request whose id the session holds, if its page may still be shown."""
    if not isinstance(request_id, int):
        return None
    request = (
        ConfirmationRequest.objects.select_related("incident", "person", "task")
        .filter(pk=request_id)
        .first()
    )
    return request if request and request_is_usable(request) else None


def request_is_usable(request: ConfirmationRequest) -> bool:
    """Answerable from the page: not withdrawn, expired or undeliverable, the incident
    still active and the deadline not passed (even if the deadline sweep has not run yet).
    An answered request stays usable so the person can correct their answer."""
    return (
        request.state not in _DEAD_STATES
        and request.incident.is_active
        and request.deadline_at > timezone.now()
    )


# --- who is visiting --------------------------------------------------------------------


def ip_hash(ip: str) -> str:
    """Keyed with SECRET_KEY: answers from one address can be linked, the address itself
    is not stored (and a list of all IPv4 addresses does not reverse it)."""
    return salted_hmac("mailflow.answer-ip", ip, algorithm="sha256").hexdigest()


def scanner_reason(
    *, request: ConfirmationRequest, method: str, user_agent: str, choice: str
) -> str:
    """Why this visit of an answer link looks like a machine, or "" for a person."""
    now = time.time()
    key = f"mailflow:respond:last:{request.pk}"
    last = cache.get(key)
    cache.set(key, (now, choice), timeout=BOTH_LINKS_SECONDS * 6)
    if method == "HEAD":
        return "The link was checked without being opened (HEAD request)."
    if looks_like_scanner(user_agent):
        return f"The link was opened by a scanner or script (user agent: {user_agent[:200]!r})."
    if last and last[1] != choice and now - last[0] < BOTH_LINKS_SECONDS:
        return "Two different answer links of the email were opened within seconds."
    return ""


def request_note_scanner_visit(*, request: ConfirmationRequest, reason: str) -> bool:
    """Count a scanner visit; the first one per request goes on the timeline. Returns
    whether this was the first. The conditional update decides "first" race-free."""
    with transaction.atomic():
        first = ConfirmationRequest.objects.filter(pk=request.pk, scanner_hits=0).update(
            scanner_hits=1
        )
        if not first:
            ConfirmationRequest.objects.filter(pk=request.pk).update(
                scanner_hits=F("scanner_hits") + 1
            )
            return False
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_LINK_CHECKED,
            actor=ANSWER_PAGE,
            summary="Link checked by a mail scanner (suspected)",
            body=f"{reason} Not taken as an answer: answers need a click on the page.",
            data={"request": request.pk},
        )
    return True


# --- rate limits ------------------------------------------------------------------------


def _bucket(name: str) -> str:
    return f"mailflow:respond:{name}:{int(time.time()) // RATE_WINDOW_SECONDS}"


def _increment(name: str) -> int:
    bucket = _bucket(name)
    cache.add(bucket, 0, timeout=RATE_WINDOW_SECONDS)
    try:
        return cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.set(bucket, 1, timeout=RATE_WINDOW_SECONDS)
        return 1


def guessing_blocked(client: str) -> bool:
    """Too many unknown tokens from this client (an ip_hash) in this window: everything
    from it is refused, valid tokens too, so a guesser cannot tell when they hit one."""
    limit = getattr(settings, "ANSWER_GUESS_LIMIT", GUESS_LIMIT)
    return (cache.get(_bucket(f"guess:{client}")) or 0) >= limit


def guess_note(client: str) -> None:
    _increment(f"guess:{client}")


def request_hit_allowed(request: ConfirmationRequest) -> bool:
    """Count one visit of this request's link or page; False once over the limit."""
    limit = getattr(settings, "ANSWER_HIT_LIMIT", HIT_LIMIT)
    return _increment(f"hits:{request.pk}") <= limit
