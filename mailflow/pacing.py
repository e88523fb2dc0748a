"""Sending within the provider's quota: EMAIL_SEND_RATE emails per second, counted across
every worker of every process.

One shared "next free slot" time, kept in Redis when REDIS_URL is set and in the database
otherwise. A sender takes the next slot (moving it on by 1/rate) and sleeps until it, so
any number of senders together never go faster than the rate, and an idle account sends
at once. A sender whose slot would be more than `horizon` seconds away takes none and
leaves its email for later: it never sleeps long, and never inside a transaction.
"""

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from mailflow.models import SendRateSlot

# The longest a sender sleeps for its slot. Further away (many senders at a low rate),
# the email is put back and sent later.
MAX_WAIT = 5.0
# A lost race for the slot row is retried; so many lost in a row means heavy contention,
# and the email is put back like one too far away.
_MAX_RACES = 50
_SLOT_ROW = 1


@dataclass(frozen=True)
class Slot:
    """`taken`: the sender may send at `at` (epoch seconds), `wait` seconds from now.
    Not taken: nothing was reserved, and the next slot is `wait` seconds away."""

    taken: bool
    wait: float
    at: float


def send_slot_take(*, horizon: float | None = None) -> Slot:
    """Reserve the next sending slot (without sleeping) if it is at most `horizon`
    seconds away (MAX_WAIT by default). Without EMAIL_SEND_RATE every slot is now."""
    horizon = MAX_WAIT if horizon is None else horizon
    rate = settings.EMAIL_SEND_RATE
    if not rate:
        return Slot(taken=True, wait=0.0, at=time.time())
    if settings.REDIS_URL:
        return _take_in_redis(1.0 / rate, horizon)
    return _take_in_database(1.0 / rate, horizon)


def send_slot_wait(*, horizon: float | None = None) -> Slot:
    """Reserve the next slot and sleep until it; a slot not taken returns at once."""
    slot = send_slot_take(horizon=horizon)
    if slot.taken and slot.wait > 0:
        time.sleep(slot.wait)
    return slot


def _take_in_database(interval: float, horizon: float) -> Slot:
    """A compare-and-set on the one row: read the next free time, move it on only if no
    other sender moved it meanwhile. The same on SQLite and PostgreSQL, with no lock held
    beyond the one UPDATE (and no transaction around the sleep)."""
    step = timedelta(seconds=interval)
    for _ in range(_MAX_RACES):
        now = timezone.now()
        current = SendRateSlot.objects.filter(pk=_SLOT_ROW).values_list("next_at", flat=True)
        next_at = current.first()
        if next_at is None:
            try:
                with transaction.atomic():
                    SendRateSlot.objects.create(pk=_SLOT_ROW, next_at=now + step)
            except IntegrityError:
                continue  # another sender created it first
            return Slot(taken=True, wait=0.0, at=now.timestamp())
        start = max(next_at, now)
        wait = (start - now).total_seconds()
        if wait > horizon:
            return Slot(taken=False, wait=wait, at=start.timestamp())
        moved = SendRateSlot.objects.filter(pk=_SLOT_ROW, next_at=next_at).update(
            next_at=start + step
        )
        if moved:
            return Slot(taken=True, wait=wait, at=start.timestamp())
    return Slot(taken=False, wait=interval, at=time.time() + interval)


# The same algorithm in one atomic script, on Redis's own clock (no skew between workers).
# Microseconds since the epoch fit a Lua number (a double) exactly.
_REDIS_TAKE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = start - now
if wait > horizon then
    return {0, wait, start}
end
redis.call('SET', KEYS[1], string.format('%d', start + interval), 'PX',
    math.floor((wait + interval) / 1000) + 60000)
return {1, wait, start}
"""
_REDIS_KEY = "soc:email-send-slot"


@cache
def _redis_script():
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.register_script(_REDIS_TAKE)


def _take_in_redis(interval: float, horizon: float) -> Slot:
    taken, wait, start = _redis_script()(
        keys=[_REDIS_KEY], args=[round(interval * 1_000_000), round(horizon * 1_000_000)]
    )
    return Slot(taken=bool(taken), wait=wait / 1_000_000, at=start / 1_000_000)
