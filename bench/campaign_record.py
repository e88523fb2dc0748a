"""A campaign for the analyst-pages benchmark: one phishing incident on which `--people`
people were asked with the shipped "Phishing recipients" runbook, their answers arriving
as they do in a real campaign. Built in the database the settings name, once: run again,
it finds the campaign and does nothing.

    uv run python -m bench.campaign_record --people 10000

Unlike bench.case_record, everything goes through the services (opening the incident,
starting the runs, sending, answering, bouncing), with the tasks they enqueue run in this
process at once (bench.worlds.inline_tasks) and the emails written by the local backend
under VAR_DIR. It takes minutes at 10,000 people, and the campaign looks as it would.

What the people do, seeded: about a third clicked "no", one in ten "yes", one in twenty
reported the email as suspicious, one in ten replied by email, two in a hundred had their
click held as a mail scanner's, two in a hundred bounced; the rest have not answered.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TITLE = "Benchmark campaign: invoice phishing sent to the whole company"
RUNBOOK = "Phishing recipients"
SEED = 11
# (share of people, what they do): the rest do nothing.
BEHAVIOUR = [
    (0.32, "page:no"),
    (0.10, "page:yes"),
    (0.05, "page:suspicious"),
    (0.10, "email_reply:no"),
    (0.02, "held:yes"),
    (0.02, "bounce"),
]


def campaign_incident_id() -> int | None:
    """The benchmark campaign's incident, if it was built."""
    from incidents.models import SecurityIncident

    return (
        SecurityIncident.objects.filter(short_description=TITLE)
        .values_list("id", flat=True)
        .first()
    )


def build(people_count: int) -> int:
    """Build the campaign unless it exists; return its incident's id."""
    from django.db import connection

    from bench.worlds import ensure_people, inline_tasks
    from core.actors import Actor
    from incidents.models import Category
    from incidents.services import incident_open
    from mailflow.answers import answer_record
    from mailflow.models import Answer, ConfirmationRequest
    from mailflow.request_lifecycle import request_mark_undeliverable
    from runbooks.files import import_shipped_runbooks
    from runbooks.starting import runs_start_for_people

    existing = campaign_incident_id()
    if existing:
        return existing
    started = time.monotonic()
    runbook = {r.name: r for r in import_shipped_runbooks()}[RUNBOOK]
    people = ensure_people(people_count)
    incident, _ = incident_open(
        actor=Actor.system("bench"),
        short_description=TITLE,
        category=Category.objects.get(slug="phishing"),
        priority=2,
    )
    with inline_tasks():
        runs_start_for_people(
            actor=Actor.system("bench"), runbook=runbook, incident=incident, people=people
        )
    requests = list(ConfirmationRequest.objects.filter(incident=incident).order_by("id"))
    print(f"{time.monotonic() - started:6.0f} s  {len(requests)} people asked", flush=True)

    rng = random.Random(SEED)
    rng.shuffle(requests)
    position = 0
    with inline_tasks():
        for share, behaviour in BEHAVIOUR:
            count = round(share * len(requests))
            for request in requests[position : position + count]:
                if behaviour == "bounce":
                    request_mark_undeliverable(
                        request=request,
                        actor=Actor.email_provider("Postmark"),
                        reason="Mailbox unavailable",
                    )
                    continue
                how, option = behaviour.split(":")
                answer_record(
                    request=request,
                    option_key=option,
                    channel=Answer.Channel.EMAIL_REPLY
                    if how == "email_reply"
                    else Answer.Channel.PAGE,
                    suspected_automated=how == "held",
                )
            position += count
    print(f"{time.monotonic() - started:6.0f} s  {position} answered or bounced", flush=True)
    if connection.vendor == "postgresql":
        # As bench.case_record does: the planner sees the campaign's rows, as it would in
        # production once autovacuum has been by. VACUUM cannot run in a transaction.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
    return incident.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")
    import django

    django.setup()
    build(args.people)


if __name__ == "__main__":
    main()
