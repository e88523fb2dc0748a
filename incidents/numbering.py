from django.db import transaction
from django.db.models import F

from incidents.models import NumberSequence

FIRST_VALUE = 1001


def number_next(prefix: str) -> str:
    """The next human number for a prefix, e.g. SIR0001001.

    The UPDATE takes a row lock held until the surrounding transaction ends, so concurrent
    callers queue and never see the same value; a rolled-back caller gives its value back.
    """
    with transaction.atomic():
        updated = NumberSequence.objects.filter(prefix=prefix).update(
            last_value=F("last_value") + 1
        )
        if not updated:
            # First use of this prefix; get_or_create copes with a concurrent first use.
            NumberSequence.objects.get_or_create(
                prefix=prefix, defaults={"last_value": FIRST_VALUE - 1}
            )
            NumberSequence.objects.filter(prefix=prefix).update(last_value=F("last_value") + 1)
        value = NumberSequence.objects.get(prefix=prefix).last_value
    return f"{prefix}{value:07d}"
