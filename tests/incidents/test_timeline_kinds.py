import pytest
from django.test import override_settings

from core.actors import Actor
from incidents import timeline_kinds as kinds
from incidents.models import TimelineEntry
from incidents.timeline import timeline_record
from incidents.timeline_kinds import Kind, TimelineKindError, kinds_registered
from soc.checks import check_timeline_kinds
from tests.factories import open_incident

PINGED = [Kind("test.pinged", "Pinged", frozenset({"by"}))]


def record(incident, kind: str, data: dict | None = None) -> TimelineEntry:
    return timeline_record(
        incident=incident, kind=kind, actor=Actor.system(), summary="Something", data=data
    )


def test_it_refuses_a_kind_nobody_registered(db):
    incident = open_incident()

    with pytest.raises(TimelineKindError, match=r"Unknown timeline kind 'answer\.recieved'"):
        record(incident, "answer.recieved")

    assert not incident.timeline.filter(kind="answer.recieved").exists()


def test_it_refuses_data_keys_the_kind_does_not_declare(db):
    incident = open_incident()

    with pytest.raises(TimelineKindError, match="does not declare the data keys answer"):
        record(incident, kinds.NOTE_ADDED, {"answer": 1})

    assert not incident.timeline.filter(kind=kinds.NOTE_ADDED).exists()


def test_an_entry_may_leave_out_declared_keys(db):
    incident = open_incident()

    entry = record(incident, kinds.INCIDENT_STATE_CHANGED, {"to": "closed"})

    assert entry.data == {"to": "closed"}


@override_settings(TIMELINE_KINDS=["incidents.timeline_kinds.KINDS", f"{__name__}.PINGED"])
def test_an_upper_layer_registers_its_kinds_in_settings(db):
    entry = record(open_incident(), "test.pinged", {"by": "someone"})

    assert entry.kind == "test.pinged"
    assert entry.kind_label == "Pinged"


def test_every_app_registers_its_kinds_with_a_namespaced_name_and_a_label():
    registered = kinds_registered()

    assert {"incident.opened", "runbook.started", "answer.received"} <= set(registered)
    for name, kind in registered.items():
        assert name.count(".") == 1, name
        assert kind.label and kind.label != name


def test_an_entry_of_a_kind_no_longer_registered_shows_its_raw_name():
    assert TimelineEntry(kind="gone.away").kind_label == "gone.away"


@override_settings(TIMELINE_KINDS=["incidents.timeline_kinds.KINDS"] * 2)
def test_the_check_flags_a_kind_registered_twice():
    (error,) = check_timeline_kinds()

    assert error.id == "soc.E006"
    assert "'incident.opened' is registered twice" in error.msg


def test_the_check_passes_the_shipped_settings():
    assert check_timeline_kinds() == []


@override_settings(TIMELINE_SUBSCRIBERS={"runbooks.tasks.on_timeline_entry": ["incident.opend"]})
def test_the_check_flags_a_subscriber_to_an_unknown_kind():
    (error,) = check_timeline_kinds()

    assert error.id == "soc.E007"
    assert "'incident.opend'" in error.msg


@override_settings(
    TIMELINE_KINDS=["runbooks.timeline_kinds.KINDS", "mailflow.timeline_kinds.KINDS"],
    TIMELINE_SUBSCRIBERS={},
)
def test_the_check_flags_a_runbook_trigger_that_is_no_registered_kind():
    (error,) = check_timeline_kinds()

    assert error.id == "soc.E008"
    assert "'incident.opened'" in error.msg
