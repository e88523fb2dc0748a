"""An approval's world: Bob's manager Maya in the directory, Carla the CISO with a staff
account and no directory entry, and three approvers in the group "Change board"; a runbook
that asks for approval before it disables an account; and the approvers' votes."""

from django.contrib.auth.models import Group

from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import Runbook
from runbooks.versions import runbook_set_steps
from tests.factories import AnalystFactory, PersonFactory, UserFactory, open_incident

DISABLE = "Disable the account of Bob Builder"
BOARD = "Change board"


def approval_world(bob) -> dict:
    """Maya (Bob's manager), Carla (staff, no Person) and the board: Ana, Ben, Cat."""
    maya = PersonFactory(email="maya@corp.example.com", first_name="Maya", last_name="Manager")
    bob.manager = maya
    bob.save(update_fields=["manager"])
    carla = AnalystFactory(
        username="carla", first_name="Carla", last_name="Ciso", email="carla@soc.example.com"
    )
    board = Group.objects.create(name=BOARD)
    members = {}
    for name in ("Ana", "Ben", "Cat"):
        user = UserFactory(
            username=name.lower(), first_name=name, last_name="Board", is_staff=True,
            email=f"{name.lower()}@soc.example.com",
        )  # fmt: skip
        board.user_set.add(user)
        members[name.lower()] = user
    inactive = UserFactory(username="old", email="old@soc.example.com", is_active=False)
    board.user_set.add(inactive)
    return {"maya": maya, "carla": carla, **members}


def approval_steps(approvers: list[str], quorum: int = 0, **params) -> list[dict]:
    return [
        {
            "action": "ask_approval",
            "params": {
                "question": "Disable the account of {person_name}?",
                "body": "{first_name} said the sign-in was not them.",
                "approvers": approvers,
                "quorum": quorum,
                **params,
            },
        },
        {
            "action": "create_task",
            "guard": "answer_in",
            "outcomes": ["approved"],
            "params": {"title": DISABLE},
        },
        {"action": "add_note", "guard": "answer_in", "outcomes": ["denied"],
         "params": {"text": "Not disabled: denied"}},
        {"action": "add_note", "guard": "no_answer", "params": {"text": "Nobody decided"}},
        {"action": "add_note", "guard": "undeliverable", "params": {"text": "Nobody reached"}},
        {"action": "add_note", "guard": "no_target", "params": {"text": "Nobody to ask"}},
    ]  # fmt: skip


def approval_runbook(approvers: list[str], quorum: int = 0, **params) -> Runbook:
    runbook = Runbook.objects.create(name="Approve, then disable")
    return runbook_set_steps(runbook=runbook, steps=approval_steps(approvers, quorum, **params))


def ask_for_approval(committed, bob, approvers: list[str], quorum: int = 0, **params):
    """Open an incident for Bob whose runbook asks for approval; returns it."""
    approval_runbook(approvers, quorum, **params)
    return committed(open_incident, affected_user=bob)


def seats(incident) -> list[ConfirmationRequest]:
    return list(
        ConfirmationRequest.objects.filter(incident=incident, kind="approval")
        .select_related("person", "approver_user", "run")
        .order_by("seat")
    )


def seat_of(incident, email: str) -> ConfirmationRequest:
    return next(s for s in seats(incident) if s.recipient_email == email)


def vote(committed, request: ConfirmationRequest, key: str, **kwargs) -> Answer:
    """The approver's vote from their answer page."""
    kwargs.setdefault("channel", Answer.Channel.PAGE)
    return committed(answer_record, request=request, option_key=key, **kwargs)


def tasks(incident) -> list[str]:
    return list(incident.tasks.order_by("pk").values_list("title", flat=True))


def notes(incident) -> list[str]:
    return list(
        incident.timeline.filter(kind="note.added").order_by("pk").values_list("body", flat=True)
    )


def summaries(incident, kind: str) -> list[str]:
    return list(
        incident.timeline.filter(kind=kind).order_by("pk").values_list("summary", flat=True)
    )
