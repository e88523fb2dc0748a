"""The timeline kinds mailflow writes (registered in settings.TIMELINE_KINDS)."""

from incidents.timeline_kinds import Kind

REQUEST_CREATED = "request.created"
REQUEST_SENT = "request.sent"
REQUEST_DEFERRED = "request.deferred"
REQUEST_DELIVERED = "request.delivered"
REQUEST_DELAYED = "request.delayed"
REQUEST_UNDELIVERABLE = "request.undeliverable"
REQUEST_COMPLAINED = "request.complained"
REQUEST_AUTORESPONDED = "request.autoresponded"
REQUEST_REMINDED = "request.reminded"
REQUEST_EXPIRED = "request.expired"
REQUEST_CANCELLED = "request.cancelled"
REQUEST_LINK_CHECKED = "request.link_checked"
REQUEST_RESENT = "request.resent"
REQUEST_RESEND_FAILED = "request.resend_failed"
REQUEST_DEADLINE_EXTENDED = "request.deadline_extended"
REQUEST_ENDED = "request.ended"
ANSWER_RECEIVED = "answer.received"
ANSWER_FLAGGED = "answer.flagged"
ANSWER_REVISED = "answer.revised"
ANSWER_LATE = "answer.late"
ANSWER_ADDITIONAL = "answer.additional"
ANSWER_HELD_UNCONFIRMED = "answer.held_unconfirmed"
ANSWER_ACKNOWLEDGED = "answer.acknowledged"
ANSWER_ACKNOWLEDGEMENT_FAILED = "answer.acknowledgement_failed"
REPLY_UNVERIFIED = "reply.unverified"
REPLY_AUTOMATIC = "reply.automatic"
REPLY_ATTACHMENTS_SKIPPED = "reply.attachments_skipped"
BOUNCE_UNVERIFIED = "bounce.unverified"
CAMPAIGN_REMINDED = "campaign.reminded"
# An automatic reply said when the person is back (mailflow.away).
REQUEST_AWAY_EXTENDED = "request.away_extended"
REQUEST_AWAY_NOTED = "request.away_noted"
REQUEST_OUT_OF_OFFICE = "request.out_of_office"

_REQUEST = frozenset({"request"})
_ANSWER = frozenset({"request", "answer", "option", "channel", "flags"})
# A provider's tracking event, or an inbound email, tells of the request.
_REQUEST_EVENT = frozenset({"request", "tracking_event", "inbound_email"})
_INBOUND = frozenset({"inbound_email"})
_AWAY = frozenset(
    {"request", "inbound_email", "return_date", "sentence", "deadline", "previous_deadline"}
)

KINDS = [
    Kind(REQUEST_CREATED, "Question created", frozenset({"request", "deadline"})),
    # One email, or a batch of them sent together for one incident.
    Kind(
        REQUEST_SENT,
        "Email sent",
        frozenset({"request", "message_id", "requests", "message_ids"}),
    ),
    Kind(REQUEST_DEFERRED, "Sending put off", _REQUEST),
    Kind(REQUEST_DELIVERED, "Email delivered", _REQUEST),
    Kind(REQUEST_DELAYED, "Delivery delayed", _REQUEST_EVENT),
    Kind(REQUEST_UNDELIVERABLE, "Email undeliverable", _REQUEST),
    Kind(REQUEST_COMPLAINED, "Email marked as spam", _REQUEST_EVENT),
    Kind(REQUEST_AUTORESPONDED, "Automatic reply reported", _REQUEST_EVENT),
    Kind(REQUEST_REMINDED, "Reminder sent", frozenset({"request", "reminder", "of"})),
    Kind(REQUEST_EXPIRED, "No answer by the deadline", _REQUEST),
    Kind(REQUEST_CANCELLED, "Question withdrawn", _REQUEST),
    Kind(REQUEST_LINK_CHECKED, "Link checked by a mail scanner", _REQUEST),
    # An analyst's actions on a waiting question (mailflow.request_actions).
    Kind(REQUEST_RESENT, "Question to be sent again", frozenset({"request", "message_id"})),
    Kind(REQUEST_RESEND_FAILED, "Not sent again", frozenset({"request", "message_id"})),
    Kind(
        REQUEST_DEADLINE_EXTENDED,
        "Deadline extended",
        frozenset({"request", "deadline", "previous_deadline"}),
    ),
    Kind(REQUEST_ENDED, "Question ended as no answer", _REQUEST),
    Kind(ANSWER_RECEIVED, "Answer received", _ANSWER),
    Kind(ANSWER_FLAGGED, "Answer flagged", _ANSWER),
    Kind(ANSWER_REVISED, "Answer changed", _ANSWER),
    Kind(ANSWER_LATE, "Late answer", _ANSWER),
    Kind(ANSWER_ADDITIONAL, "More about an answer", frozenset({"request", "answer", "files"})),
    Kind(
        ANSWER_HELD_UNCONFIRMED,
        "Answer held for confirmation",
        frozenset({"request", "answer", "task"}),
    ),
    # The email that tells the person their reply was recorded, and what happens next.
    Kind(ANSWER_ACKNOWLEDGED, "Reply acknowledged", frozenset({"request", "answer", "message_id"})),
    Kind(ANSWER_ACKNOWLEDGEMENT_FAILED, "Reply not acknowledged", frozenset({"request", "answer"})),
    Kind(REPLY_UNVERIFIED, "Unverified reply", frozenset({"inbound_email", "count"})),
    Kind(REPLY_AUTOMATIC, "Automatic reply", _INBOUND),
    Kind(REPLY_ATTACHMENTS_SKIPPED, "Attachments not filed", _INBOUND),
    Kind(BOUNCE_UNVERIFIED, "Unverified bounce", _INBOUND),
    # "Remind now" on the campaign page: how many were waiting, and the last request of
    # theirs, so the background task reminds exactly them.
    Kind(CAMPAIGN_REMINDED, "Reminder to everyone not answered", frozenset({"count", "up_to"})),
    # The return date read, the sentence it came from, and what it changed.
    Kind(REQUEST_AWAY_EXTENDED, "Deadline moved: person away", _AWAY),
    Kind(REQUEST_AWAY_NOTED, "Person away, back before the deadline", _AWAY),
    Kind(REQUEST_OUT_OF_OFFICE, "Person away past the deadline", _AWAY),
]
