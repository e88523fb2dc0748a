"""A worker killed mid-task, for the tests that run the task again and expect the world
to end up as if it had run once."""

from runbooks import actions


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the app catches it."""


def kill_at(monkeypatch, action_name: str) -> None:
    """Make one runbook action's executor kill the worker the first time it runs, after
    its effects and before the engine's transaction commits; later runs go through."""
    original = actions.ACTIONS[action_name].executor
    calls = []

    def dying(ctx):
        calls.append(1)
        outcome = original(ctx)
        if len(calls) == 1:
            raise WorkerKilled
        return outcome

    monkeypatch.setattr(actions.ACTIONS[action_name], "executor", dying)
