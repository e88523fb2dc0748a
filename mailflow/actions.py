"""The runbook actions that need email: the generic ones' parameters and validation,
carried out here. settings.RUNBOOK_ACTIONS lists these instead of the generic ones."""

from datetime import timedelta
from typing import Any

from mailflow.sending import request_create
from mailflow.what_next import options_with_next
from runbooks import actions as generic
from runbooks.actions import StepContext, StepOutcome, ask_target, wait_for_answer
from runbooks.targets import AFFECTED
from runbooks.translations import person_language


def _ask_by_email(ctx: StepContext) -> StepOutcome:
    target = ask_target(ctx)
    if isinstance(target, StepOutcome):
        return target  # nobody to ask: the run goes on at once
    params = ctx.params
    # The language of the person asked from the directory ("de-CH": German) chooses every
    # text they read; the request keeps them as they were sent.
    person = target.person
    language = person_language(person.language if person else "", ctx.language)
    deadline_hours = params.get("deadline_hours") or 72
    request = request_create(
        actor=ctx.actor,
        run=ctx.run,
        step_position=ctx.run.position,
        person=target.person,
        asked_as="" if target.kind == AFFECTED else target.role,
        incident=ctx.incident,
        task=ctx.task if params.get("relate_to") == "task" else None,
        question=ctx.render(params["question"], language),
        options=options_with_next(ctx.options_in(language), language, ctx.language),
        subject=ctx.render(params.get("subject") or params["question"], language),
        body=ctx.render(params.get("body") or "", language),
        evidence_requested=bool(params.get("request_evidence")),
        reminders_after=[timedelta(hours=hours) for hours in reminder_hours(params)],
        deadline_after=timedelta(hours=deadline_hours),
        batch=ctx.batch,
        language=language,
    )
    outcome = wait_for_answer(ctx, request_id=request.pk, **target.context())
    outcome.detail = f"Question {request.pk} created"
    return outcome


def reminder_hours(params: dict[str, Any]) -> list[int]:
    """The step's reminders in hours. A run started before several reminders existed
    keeps its snapshot's one `reminder_after_hours` (0: none): a one-item list."""
    if "reminders_after_hours" in params:
        hours = params["reminders_after_hours"] or []
    else:
        hours = [params.get("reminder_after_hours") or 0]
    return [h for h in hours if isinstance(h, int) and not isinstance(h, bool) and h > 0]


def _report_filed_evidence(ctx: StepContext) -> StepOutcome:
    """The files came with the answer and were filed on the incident when it was
    recorded (so nothing waits on this step); report what is there."""
    request_id = ctx.run.context.get("request_id")
    if request_id is None:
        return StepOutcome(detail="No question was asked")
    count = ctx.incident.evidence.filter(provenance__request=request_id).count()
    return StepOutcome(detail=f"{count} file(s) from the answers to question {request_id}")


ask_user = generic.ask_user.run_by(_ask_by_email)
file_evidence = generic.file_evidence.run_by(_report_filed_evidence)
