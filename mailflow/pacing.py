"""Sending within the provider's quota: EMAIL_SEND_RATE emails per second, counted across
every worker of every process.

One shared "next free slot" time, kept in Redis when REDIS_URL is set and in the database
otherwise. A sender takes the next slot (moving it on by 1/rate) and sleeps until it, so
any number of senders together never go faster than the rate, and an idle account sends
at once. A sender whose slot would be more than `horizon` seconds away takes none and
leaves its email for later: it never sleeps long, and never inside a transaction.
"""

import contextlib
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from mailflow.models import SendRateSlot

# The longest a sender sleeps for its slot. Further away (many senders at a low rate),
# the email is put back and sent later.
MAX_WAIT = 5.0
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
    """One UPDATE … RETURNING moves the next free time on by `interval` unless it is
    more than `horizon` away, and returns it: atomic on SQLite and PostgreSQL alike, one
    round trip, and no lock held beyond that statement (nor any transaction around the
    sleep)."""
    table = connection.ops.quote_name(SendRateSlot._meta.db_table)
    for _ in range(3):  # again after creating the row, or when it moved between statements
        now = time.time()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET next_at = "  # noqa: S608 (our own table's name)
                "CASE WHEN next_at > %s THEN next_at ELSE %s END + %s "
                "WHERE id = %s AND next_at <= %s RETURNING next_at",
                [now, now, interval, _SLOT_ROW, now + horizon],
            )
            moved = cursor.fetchone()
        if moved:
            start = moved[0] - interval
            return Slot(taken=True, wait=max(0.0, start - now), at=start)
        row = SendRateSlot.objects.filter(pk=_SLOT_ROW)
        next_at = row.values_list("next_at", flat=True).first()
        if next_at is None:
            with contextlib.suppress(IntegrityError), transaction.atomic():
                SendRateSlot.objects.create(pk=_SLOT_ROW, next_at=now)
        elif next_at > now + horizon:  # too far away: nothing reserved
            return Slot(taken=False, wait=next_at - now, at=next_at)
        # Otherwise another sender created the row after our UPDATE looked: try again.
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
