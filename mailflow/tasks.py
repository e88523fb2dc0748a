"""django-q2 entry points: load by id, call a service. Each is safe to run twice."""

from core.actors import Actor
from incidents.models import SecurityIncident, TimelineEntry
from incidents.timeline_kinds import INCIDENT_STATE_CHANGED
from mailflow.acknowledgements import answer_acknowledge
from mailflow.campaigns import campaign_remind_send
from mailflow.due_requests import requests_process_due
from mailflow.held_answers import held_answer_escalate, held_answers_escalate_due
from mailflow.request_actions import resent_email_send
from mailflow.request_lifecycle import requests_cancel_for_incident
from mailflow.sending import request_send, requests_send_batch

_ENDED = (SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED)


def send_request(request_id: int) -> None:
    request_send(request_id)


def send_requests(request_ids: list[int]) -> None:
    """The rest of a batch the send rate or the batch's time budget put back."""
    requests_send_batch(request_ids)


def send_again(resent_id: int) -> bool:
    return resent_email_send(resent_id)


def acknowledge_answer(answer_id: int) -> bool:
    """Tell the person their email reply was recorded, and what happens next; once."""
    return answer_acknowledge(answer_id)


def process_due_requests() -> tuple[int, int]:
    """Scheduled every minute: reminders and deadlines."""
    return requests_process_due()


def escalate_held_answer(answer_id: int) -> bool:
    """Scheduled once an answer held as a possible scanner has waited its time: a task for
    an analyst, unless it was accepted or answered again by then."""
    return held_answer_escalate(answer_id)


def sweep_held_answers() -> int:
    """Scheduled every 5 minutes: held answers whose one-off check was lost."""
    return held_answers_escalate_due()


def on_timeline_entry(entry_id: int) -> None:
    """A closed or cancelled incident withdraws its open questions: their links die."""
    entry = TimelineEntry.objects.select_related("incident").filter(pk=entry_id).first()
    if entry and entry.kind == INCIDENT_STATE_CHANGED and entry.data.get("to") in _ENDED:
        requests_cancel_for_incident(
            incident=entry.incident,
            actor=Actor.system(),
            reason=f"The incident was {entry.data['to']}.",
        )


def process_tracking_event(event_id: int) -> str:
    """Act on a delivery event the webhook stored."""
    from mailflow.tracking import tracking_event_process

    return tracking_event_process(event_id)


def process_inbound(inbound_id: int) -> None:
    from mailflow.inbound import inbound_process

    inbound_process(inbound_id)


def sweep_inbound() -> tuple[int, int]:
    """Scheduled every 5 minutes: inbound email left unprocessed by a lost enqueue or a
    killed worker."""
    from mailflow.inbound import inbound_sweep

    return inbound_sweep()


def sweep_tracking_events() -> int:
    """Scheduled every 5 minutes: delivery events left unprocessed by a lost enqueue."""
    from mailflow.tracking import tracking_sweep

    return tracking_sweep()


def remind_campaign(entry_id: int, after: int = 0) -> int:
    """ "Remind now" on a campaign, a chunk at a time (mailflow.campaigns)."""
    return campaign_remind_send(entry_id, after)


def poll_mailboxes() -> int:
    """Scheduled every minute: a poll for each mailbox that is due."""
    from mailflow.mailbox_polling import mailboxes_poll_due

    return mailboxes_poll_due()


def poll_mailbox(mailbox_id: int) -> None:
    """One mailbox's poll; a second one at the same time finds it held and does nothing."""
    from mailflow.mailbox_polling import mailbox_poll

    mailbox_poll(mailbox_id=mailbox_id)
