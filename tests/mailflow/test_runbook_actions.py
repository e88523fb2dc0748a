"""The runbook actions come from settings.RUNBOOK_ACTIONS: production lists mailflow's
emailing ask_user and file_evidence, and a test can list others without patching."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import mailflow.actions
from runbooks import actions
from runbooks.actions import ACTIONS, validate_params


def test_the_configured_ask_user_is_mailflows_with_the_generic_parameters():
    assert ACTIONS["ask_user"] is mailflow.actions.ask_user
    assert ACTIONS["file_evidence"] is mailflow.actions.file_evidence
    assert ACTIONS["ask_user"].params == actions.ask_user.params
    assert ACTIONS["ask_user"].executor is not actions.ask_user.executor


def test_the_registry_follows_the_setting():
    with override_settings(RUNBOOK_ACTIONS=["runbooks.actions.ask_user"]):
        assert list(ACTIONS) == ["ask_user"]
        assert ACTIONS["ask_user"] is actions.ask_user
        _, errors = validate_params("create_task", {"title": "x"})
        assert errors == {"action": "unknown action 'create_task'; known actions: ask_user"}
    assert ACTIONS["ask_user"] is mailflow.actions.ask_user


@pytest.mark.parametrize(
    "paths, message",
    [
        (["runbooks.actions.ask_user", "mailflow.actions.ask_user"], "names 'ask_user' twice"),
        (["runbooks.actions.placeholder_values"], "is not an Action"),
    ],
)
def test_a_wrong_list_is_refused_with_the_reason(paths, message):
    with (
        override_settings(RUNBOOK_ACTIONS=paths),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        ACTIONS["ask_user"]
