"""What a campaign looks like (everyone asked on one incident, mailflow/admin_ask_people.py):
each question's outcome, the counts by outcome, and how far sending has got. Reads only;
the campaign page, its CSV, its panel and the API all read these, so they agree.

Every figure is one aggregate query whatever the number of people: the outcome is a SQL
expression over the request's state and its answers, never a loop in Python."""

from dataclasses import dataclass

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat

from incidents.models import SecurityIncident
from mailflow.models import OPEN_STATES, Answer, ConfirmationRequest
from runbooks.outcomes import SUSPICIOUS, UNRECOGNISED

State = ConfirmationRequest.State

# Outcome keys: an option's is ANSWER_PREFIX + its key, so no option key an author picks
# can collide with the others.
ANSWER_PREFIX = "answer:"
LOOKS_SUSPICIOUS = "suspicious"
NOT_UNDERSTOOD = "unrecognised"
HELD = "held"
WAITING = "waiting"
NO_ANSWER = State.NO_ANSWER.value
UNDELIVERABLE = State.UNDELIVERABLE.value
WITHDRAWN = State.CANCELLED.value
AWAY = State.OUT_OF_OFFICE.value

# After the options, in this order; those marked False only when someone is in them.
OTHER_OUTCOMES: list[tuple[str, str, bool]] = [
    (LOOKS_SUSPICIOUS, "Looks suspicious", True),
    (NOT_UNDERSTOOD, "Answer not understood", False),
    (HELD, "Held or flagged", True),
    (WAITING, "No answer yet", True),
    (NO_ANSWER, "No answer at the deadline", True),
    (UNDELIVERABLE, "Undeliverable", True),
    (WITHDRAWN, "Withdrawn", False),
    (AWAY, "Out of office", False),
]
OPTION_COLOURS = ["#417690", "#5b9b4b", "#8a6fb0", "#2a9d8f", "#6c8ebf", "#4f7f3f"]
OTHER_COLOURS = {
    LOOKS_SUSPICIOUS: "#c0392b",
    NOT_UNDERSTOOD: "#b07d48",
    HELD: "#e0a526",
    WAITING: "#c9ced3",
    NO_ANSWER: "#7f8a93",
    UNDELIVERABLE: "#4a4a4a",
    WITHDRAWN: "#a9a9a9",
    AWAY: "#9c7a5b",
}


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    count: int
    colour: str


@dataclass(frozen=True)
class Progress:
    total: int
    sent: int
    waiting_to_send: int  # not sent yet: sending is still going on
    open: int  # sent or not, no answer yet and no deadline passed
    answered: int  # an answer counted, whichever (an option, suspicious, not understood)

    @property
    def sending(self) -> bool:
        return self.waiting_to_send > 0


def campaign_requests(incident: SecurityIncident) -> QuerySet[ConfirmationRequest]:
    """Every question asked on the incident: one per person in a campaign."""
    return ConfirmationRequest.objects.filter(incident=incident)


def with_outcome(requests: QuerySet[ConfirmationRequest]) -> QuerySet[ConfirmationRequest]:
    """`requests` annotated with `outcome` (the keys above)."""
    # The counted answer's outcome is worked out inside its subquery, so the database
    # looks the answer up once per answered question, and never for the others.
    counted = (
        Answer.objects.filter(request=OuterRef("pk"), counted=True)
        .order_by("received_at", "id")
        .annotate(
            outcome=Case(
                When(option_key=SUSPICIOUS, then=Value(LOOKS_SUSPICIOUS)),
                When(option_key=UNRECOGNISED, then=Value(NOT_UNDERSTOOD)),
                default=Concat(Value(ANSWER_PREFIX), F("option_key")),
                output_field=CharField(),
            )
        )
    )
    held = Answer.objects.filter(
        Q(suspected_automated=True) | Q(sender_mismatch=True), request=OuterRef("pk")
    ).filter(counted=False)
    return requests.annotate(
        outcome=Case(
            When(
                state=State.ANSWERED,
                then=Coalesce(Subquery(counted.values("outcome")[:1]), Value(ANSWER_PREFIX)),
            ),
            When(Exists(held), state__in=OPEN_STATES, then=Value(HELD)),
            When(state__in=OPEN_STATES, then=Value(WAITING)),
            default=F("state"),
            output_field=CharField(),
        )
    )


def with_answer(requests: QuerySet[ConfirmationRequest]) -> QuerySet[ConfirmationRequest]:
    """`requests` annotated with the answer that says most about them: the counted one,
    else the latest one kept (a held answer, a late one): `answer_at`, `answer_channel`."""
    best = Answer.objects.filter(request=OuterRef("pk")).order_by("-counted", "-received_at", "-id")
    return requests.annotate(
        answer_at=Subquery(best.values("received_at")[:1]),
        answer_channel=Subquery(best.values("channel")[:1]),
    )


def outcome_filter(
    requests: QuerySet[ConfirmationRequest], outcome: str
) -> QuerySet[ConfirmationRequest]:
    return with_outcome(requests).filter(outcome=outcome)


def option_labels(requests: QuerySet[ConfirmationRequest], keys: set[str]) -> dict[str, str]:
    """Labels of the options, in the order the first question listed them, plus those of
    any other key answered (another runbook asked on the same incident): one query each."""
    first = requests.order_by("pk").values_list("options", flat=True).first() or []
    labels = {str(o["key"]): str(o["label"]) for o in first if isinstance(o, dict) and "key" in o}
    for key in sorted(keys - labels.keys()):
        answered = requests.filter(answers__counted=True, answers__option_key=key)
        options = answered.values_list("options", flat=True).first() or []
        labels[key] = next(
            (str(o["label"]) for o in options if isinstance(o, dict) and o.get("key") == key),
            key,
        )
    return labels


def campaign_outcomes(requests: QuerySet[ConfirmationRequest]) -> list[Outcome]:
    """The counts by outcome, each option first (zero included), then the others."""
    rows = with_outcome(requests).order_by().values("outcome").annotate(n=Count("pk"))
    counts = {row["outcome"]: row["n"] for row in rows}
    answered = {k.removeprefix(ANSWER_PREFIX) for k in counts if k.startswith(ANSWER_PREFIX)}
    labels = option_labels(requests, answered)
    outcomes = [
        Outcome(
            ANSWER_PREFIX + key,
            label,
            counts.get(ANSWER_PREFIX + key, 0),
            OPTION_COLOURS[n % len(OPTION_COLOURS)],
        )
        for n, (key, label) in enumerate(labels.items())
    ]
    for key, label, always in OTHER_OUTCOMES:
        if always or counts.get(key):
            outcomes.append(Outcome(key, label, counts.get(key, 0), OTHER_COLOURS[key]))
    return outcomes


def outcome_label(outcome: str, labels: dict[str, str]) -> str:
    """For one row: `labels` maps option keys to labels (option_labels)."""
    if outcome.startswith(ANSWER_PREFIX):
        key = outcome.removeprefix(ANSWER_PREFIX)
        return labels.get(key, key)
    return next((label for key, label, _ in OTHER_OUTCOMES if key == outcome), outcome)


def campaign_progress(requests: QuerySet[ConfirmationRequest]) -> Progress:
    figures = requests.aggregate(
        total=Count("pk"),
        sent=Count("pk", filter=Q(sent_at__isnull=False)),
        pending=Count("pk", filter=Q(state=State.PENDING)),
        open=Count("pk", filter=Q(state__in=OPEN_STATES)),
        answered=Count("pk", filter=Q(state=State.ANSWERED)),
    )
    return Progress(
        total=figures["total"],
        sent=figures["sent"],
        waiting_to_send=figures["pending"],
        open=figures["open"],
        answered=figures["answered"],
    )


def campaign_search(
    requests: QuerySet[ConfirmationRequest], words: str
) -> QuerySet[ConfirmationRequest]:
    """Each word in the person's name or email (or the address asked)."""
    for word in words.split()[:10]:
        requests = requests.filter(
            Q(person__first_name__icontains=word)
            | Q(person__last_name__icontains=word)
            | Q(person__email__icontains=word)
            | Q(recipient_email__icontains=word)
        )
    return requests


def campaign_summary(incident: SecurityIncident) -> dict:
    """The figures the campaign page's script and the API read: sent of total, how many
    answered, and the counts by outcome."""
    requests = campaign_requests(incident)
    progress = campaign_progress(requests)
    outcomes = campaign_outcomes(requests)
    return {
        "incident": incident.number,
        "total": progress.total,
        "sent": progress.sent,
        "sending": progress.sending,
        "open": progress.open,
        "answered": progress.answered,
        "done": progress.open == 0,
        "outcomes": [{"key": o.key, "label": o.label, "count": o.count} for o in outcomes],
    }
