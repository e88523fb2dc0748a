"""Benchmark 3, campaign fan-out: one incident affecting 10,000 people (a phishing email
that reached everyone), each asked with the shipped "Phishing recipients" runbook.

What is measured, with a real `qcluster` (ORM broker, PostgreSQL, 2 workers) and the local
email backend (one .eml file per email):
- the time from the analyst's "ask these people" until every email has been handed to the
  backend, and so emails per second;
- the database queries per person, counted in-process over a sample of 200 people;
- the baseline, in the same run: the same number of emails of the same size, rendered
  once and handed to the same backend over one connection by one process. That is the
  floor any design pays; the ratio says what the runs, questions and timeline cost on top.

    uv run python bench/campaign_fanout.py            # 10,000 people (goal: under 60 s)
    uv run python bench/campaign_fanout.py --quick    # 1,000 people
"""

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import conditions, create_database, free_port, print_table
from bench.qcluster_tools import (
    app_env,
    database_url,
    manage,
    start_qcluster,
    stop,
    use_env,
)

GOAL_SECONDS = 60.0
QUERY_SAMPLE = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 people")
    parser.add_argument("--database", default="bench_campaign")
    parser.add_argument(
        "--queries", action="store_true", help="also print the sample's queries per person by shape"
    )
    args = parser.parse_args()
    people_count = 1_000 if args.quick else args.people

    print(conditions())
    database = database_url(args.database)
    create_database(database, fresh=True)
    var_dir = Path(tempfile.mkdtemp(prefix="soc-bench-campaign-"))
    env = app_env(database=database, var_dir=var_dir, port=free_port())
    manage(env, "migrate")
    use_env(env)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.worlds import ensure_people, inline_tasks
    from core.actors import Actor
    from incidents.models import Category, Person
    from incidents.services import incident_open
    from mailflow.models import ConfirmationRequest
    from runbooks.files import import_shipped_runbooks
    from runbooks.starting import runs_start_for_people

    runbook = {r.name: r for r in import_shipped_runbooks()}["Phishing recipients"]
    people = ensure_people(people_count + QUERY_SAMPLE)
    sample, everyone = people[:QUERY_SAMPLE], people[QUERY_SAMPLE:]
    phishing = Category.objects.get(slug="phishing")

    def open_campaign_incident(title: str):
        incident, _ = incident_open(
            actor=Actor.system(), short_description=title, category=phishing, priority=2
        )
        return incident

    # Queries per person, in this process: start the runs, advance them and send their
    # emails, the tasks run inline (what a worker does, without the broker's own queries).
    sample_incident = open_campaign_incident("Query sample: invoice phishing")
    with inline_tasks(), CaptureQueriesContext(connection) as queries:
        runs_start_for_people(
            actor=Actor.system(), runbook=runbook, incident=sample_incident, people=sample
        )
    sent_sample = ConfirmationRequest.objects.filter(
        incident=sample_incident, state=ConfirmationRequest.State.SENT
    ).count()
    per_person = len(queries) / len(sample)
    if args.queries:
        _print_query_shapes(queries.captured_queries, len(sample))

    # Baseline: the same emails' handoff alone, rendered once, one connection.
    baseline = _baseline_seconds(people_count, var_dir)

    # The campaign through the real worker.
    incident = open_campaign_incident("Invoice overdue: credential phishing to everyone")
    log = var_dir / "qcluster.log"
    cluster = start_qcluster(env, log)
    try:
        time.sleep(2)  # the cluster's workers start before the clock does
        began = time.monotonic()
        runs_start_for_people(
            actor=Actor.system(), runbook=runbook, incident=incident, people=everyone
        )
        sent, backlog = 0, []
        while sent < people_count:
            time.sleep(0.5)
            sent = ConfirmationRequest.objects.filter(
                incident=incident, state=ConfirmationRequest.State.SENT
            ).count()
            backlog.append(people_count - sent)
            if time.monotonic() - began > 20 * GOAL_SECONDS:
                break
        elapsed = time.monotonic() - began
    finally:
        stop(cluster)
    emails = len(list((var_dir / "mail").glob("*.eml")))

    rows = [
        ["people asked", people_count, "", "", ""],
        ["time until every email was handed over", f"{elapsed:.1f} s", f"{baseline:.1f} s",
         f"{elapsed / baseline:.1f}x", _met(elapsed < GOAL_SECONDS, f"< {GOAL_SECONDS:.0f} s")],
        ["emails per second", f"{sent / elapsed:.0f}/s", f"{people_count / baseline:.0f}/s",
         f"{(sent / elapsed) / (people_count / baseline):.2f}x", ""],
        ["database queries per person", f"{per_person:.1f}", "0", "",
         f"sample of {len(sample)}, {sent_sample} sent"],
        ["emails written by the backend", emails - len(sample), people_count, "", ""],
    ]  # fmt: skip
    print_table(rows, ["figure", "app", "baseline", "ratio", "goal"])
    print(f"Person count check: {Person.objects.count()} people in the directory.")
    if sent < people_count or emails - len(sample) != people_count:
        raise SystemExit(f"Only {sent} of {people_count} emails were sent; see {log}")


def _baseline_seconds(count: int, var_dir: Path) -> float:
    """`count` emails of the question's size handed to the local backend over one
    connection by one process: the cost of the handoff alone."""
    from django.core.mail import EmailMultiAlternatives, get_connection
    from django.test import override_settings

    from mailflow.emails import build_request_email
    from mailflow.models import ConfirmationRequest

    template = build_request_email(ConfirmationRequest.objects.select_related(
        "incident", "person").order_by("pk").first())  # fmt: skip
    messages = [
        EmailMultiAlternatives(
            template.subject, template.body, template.from_email, [f"baseline{n}@bench.example"],
            alternatives=template.alternatives, headers=template.extra_headers,
        )
        for n in range(count)
    ]  # fmt: skip
    with override_settings(EMAIL_FILE_PATH=str(var_dir / "baseline-mail")):
        began = time.monotonic()
        with get_connection() as connection:
            connection.send_messages(messages)
        return time.monotonic() - began


def _print_query_shapes(captured: list[dict], people: int) -> None:
    """Where the queries per person go: each query cut to its verb and table."""
    shapes = Counter(_shape(query["sql"]) for query in captured)
    print("Queries per person, by shape:")
    for shape, count in shapes.most_common():
        print(f"  {count / people:6.2f}  {shape}")


def _shape(sql: str) -> str:
    match = re.match(r"\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|SAVEPOINT|RELEASE|\w+)", sql)
    verb = match.group(1) if match else sql[:20]
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
    return f"{verb} {table.group(1) if table else ''}".strip()


def _met(ok: bool, goal: str) -> str:
    return f"{goal}: {'met' if ok else 'MISSED'}"


if __name__ == "__main__":
    main()
