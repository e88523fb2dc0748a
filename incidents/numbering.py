from django.db import connection, transaction

from incidents.models import NumberSequence

FIRST_VALUE = 1001
# RETURNING: PostgreSQL, and SQLite from 3.35 (2021).
_BUMP = (
    "UPDATE incidents_numbersequence SET last_value = last_value + 1 "
    "WHERE prefix = %s RETURNING last_value"
)


def number_next(prefix: str) -> str:
    """The next human number for a prefix, e.g. SIR0001001.

    The UPDATE takes a row lock held until the surrounding transaction ends, so concurrent
    callers queue and never see the same value; a rolled-back caller gives its value back.
    """
    # No savepoint: nothing in here is caught and retried, so a failure may as well roll
    # back the caller's transaction, and the reply-to-branch path saves two statements.
    with transaction.atomic(savepoint=False):
        value = _bump(prefix)
        if value is None:
            # First use of this prefix; get_or_create copes with a concurrent first use.
            NumberSequence.objects.get_or_create(
                prefix=prefix, defaults={"last_value": FIRST_VALUE - 1}
            )
            value = _bump(prefix)
    return f"{prefix}{value:07d}"


def _bump(prefix: str) -> int | None:
    """The prefix's counter plus one, in one statement, or None when the prefix has no
    counter yet."""
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, [prefix])
        row = cursor.fetchone()
    return row[0] if row else None
