"""The runbook actions that need email: the generic ones' parameters and validation,
carried out here. settings.RUNBOOK_ACTIONS lists these instead of the generic ones."""

from datetime import timedelta

from mailflow.sending import request_create
from runbooks import actions as generic
from runbooks.actions import StepContext, StepOutcome, wait_for_answer
from runbooks.translations import person_language


def _ask_by_email(ctx: StepContext) -> StepOutcome:
    params = ctx.params
    # The person's language from the directory ("de-CH": German) chooses every text the
    # person reads; the request keeps them as they were sent.
    person = ctx.run.asked_person
    language = person_language(person.language if person else "", ctx.language)
    reminder_hours = params.get("reminder_after_hours") or 0
    deadline_hours = params.get("deadline_hours") or 72
    request = request_create(
        actor=ctx.actor,
        run=ctx.run,
        step_position=ctx.run.position,
        incident=ctx.incident,
        task=ctx.task if params.get("relate_to") == "task" else None,
        question=ctx.render(params["question"], language),
        options=ctx.options_in(language),
        subject=ctx.render(params.get("subject") or params["question"], language),
        body=ctx.render(params.get("body") or "", language),
        evidence_requested=bool(params.get("request_evidence")),
        reminder_after=timedelta(hours=reminder_hours)
        if 0 < reminder_hours < deadline_hours
        else None,
        deadline_after=timedelta(hours=deadline_hours),
        batch=ctx.batch,
        language=language,
    )
    outcome = wait_for_answer(ctx, request_id=request.pk)
    outcome.detail = f"Question {request.pk} created"
    return outcome


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
