"""The world the qcluster benchmarks and drills play in: people, incidents opened through
the services so the shipped runbooks start and email their question (local email
backend), and the replies those people send, as Postmark posts them.

Call after qcluster_tools.use_env(): everything here needs Django set up."""

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import requests
from django.db import connection
from django.utils.module_loading import import_string

from bench.payloads import png
from bench.replies import reply_mime
from core.actors import Actor
from incidents.models import Category, Person, SecurityIncident
from incidents.services import incident_open
from mailflow.emails import reply_address
from mailflow.models import ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from runbooks.models import RunbookRun

# The two shipped runbooks and the category that starts each (runbooks/library/*.yaml).
FAILED_LOGIN = "failed-login"
DOWNLOAD = "policy-violation"
# What each answer of the download runbook creates once the run resumes: the end point of
# the reply-to-branch benchmark.
FOLLOW_UPS = {
    "yes": "Analyse the evidence provided by the user",
    "no": "Obtain further information",
}
PEOPLE = 500
APPS = {"core", "incidents", "runbooks", "mailflow"}  # core.enqueue: enqueue_on_commit
EMAIL_DOMAIN = "corp.example.com"


@contextmanager
def tasks_to(replacement: Callable[..., object]) -> Iterator[None]:
    """Hand what the app's services enqueue to `replacement(func, *args)` instead of the
    broker (the app modules import async_task by name, so each module is patched)."""
    from core.enqueue import async_task

    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in APPS and getattr(module, "async_task", None) is async_task
    ]
    for module in patched:
        module.async_task = replacement
    try:
        yield
    finally:
        for module in patched:
            module.async_task = async_task


def run_task(func: str | Callable, *args: object, **kwargs: object) -> object:
    target = import_string(func) if isinstance(func, str) else func
    return target(*args, **kwargs)


def inline_tasks() -> AbstractContextManager[None]:
    """Run what services enqueue in this process, at once: a world of thousands of
    waiting questions is built in minutes without a cluster. Plain calls rather than
    django-q2's sync mode, which opens a database connection and saves a result row for
    every task (much slower). Each runs after its transaction commits, as a
    worker would (on the ORM broker core.enqueue hands the task over inside it)."""
    from django.db import transaction

    return tasks_to(lambda *task: transaction.on_commit(lambda: run_task(*task)))


def ensure_people(count: int = PEOPLE) -> list[Person]:
    Person.objects.bulk_create(
        [
            Person(
                email=f"user{number:05d}@{EMAIL_DOMAIN}",
                first_name=f"User{number}",
                last_name="Bench",
                department="Bench",
            )
            for number in range(count)
        ],
        ignore_conflicts=True,
    )
    return list(Person.objects.filter(department="Bench").order_by("email")[:count])


def waiting_requests(slug: str) -> list[ConfirmationRequest]:
    """Questions sent and still unanswered, their run waiting: each can take one reply."""
    return list(
        ConfirmationRequest.objects.filter(
            state=ConfirmationRequest.State.SENT,
            incident__category__slug=slug,
            run__state=RunbookRun.State.WAITING,
            answers__isnull=True,
        )
        .select_related("incident", "person")
        .order_by("pk")
    )


def open_waiting(count: int, slug: str, *, progress: bool = True) -> list[ConfirmationRequest]:
    """Open `count` incidents of the category through the service, running the runbook
    inline up to its question, which the local backend writes to VAR_DIR/mail."""
    import_shipped_runbooks()
    people = ensure_people()
    category = Category.objects.get(slug=slug)
    started = time.monotonic()
    with inline_tasks():
        for number in range(count):
            incident_open(
                actor=Actor.system("Bench"),
                short_description=f"Bench incident {number} ({slug})",
                category=category,
                priority=SecurityIncident.Priority.MODERATE,
                affected_user=people[number % len(people)],
            )
            if progress and number and number % 250 == 0:
                rate = number / (time.monotonic() - started)
                print(f"  opened {number}/{count} incidents ({rate:.0f}/s)", flush=True)
    return waiting_requests(slug)


def ensure_waiting(count: int, slug: str) -> list[ConfirmationRequest]:
    """At least `count` waiting questions, reusing those a previous run left unanswered."""
    available = waiting_requests(slug)
    if len(available) < count:
        print(f"  building {count - len(available)} more waiting {slug} incidents", flush=True)
        available = open_waiting(count - len(available), slug)
    return available[:count]


# --- replies ----------------------------------------------------------------------------


@dataclass
class Reply:
    """One reply, ready to post (the same bytes each time it is delivered again)."""

    request_id: int
    incident_id: int
    answer: str
    mime: bytes
    recipient: str
    sender: str
    sends: list[tuple[float, float, int]] = field(default_factory=list)  # (sent, acked, status)


def reply_for(
    request: ConfirmationRequest, answer: str, *, style: str = "gmail", screenshot: bool = False
) -> Reply:
    """The reply a mail client writes: the answer above a quote of our whole question,
    From the person asked, to the request's reply address; a screenshot if asked."""
    person = request.person
    attachments = (
        (("screenshot.png", "image/png", png(90 + request.pk % 50)),) if screenshot else ()
    )
    mime = reply_mime(
        request,
        answer,
        style=style,
        sender=f"{person.full_name} <{person.email}>",
        attachments=attachments,
    )
    return Reply(
        request_id=request.pk,
        incident_id=request.incident_id,
        answer=answer,
        mime=mime,
        recipient=reply_address(request),
        sender=person.email,
    )


def postmark_body(reply: Reply) -> bytes:
    """Postmark's inbound JSON with "Include raw email content": each delivery carries a
    new provider event id, as a provider's retry does; the message itself is the same."""
    payload = {
        "MessageStream": "inbound",
        "MessageID": str(uuid.uuid4()),
        "From": reply.sender,
        "FromFull": {"Email": reply.sender, "Name": "", "MailboxHash": ""},
        "To": reply.recipient,
        "ToFull": [{"Email": reply.recipient, "Name": "", "MailboxHash": ""}],
        "OriginalRecipient": reply.recipient,
        "Headers": [{"Name": "Return-Path", "Value": f"<{reply.sender}>"}],
        # Postmark's RawEmail has bare LF line ends.
        "RawEmail": reply.mime.decode("utf-8").replace("\r\n", "\n"),
    }
    return json.dumps(payload).encode()


class Poster:
    """Posts replies to the Postmark inbound webhook with basic auth, one HTTP session
    per thread, recording when each was sent and acknowledged (time.time(), so it
    compares with the created_at the server writes)."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.url = f"{base_url}/anymail/postmark/inbound/"
        user, _, password = secret.partition(":")
        self.auth = (user, password)
        self.local = threading.local()

    def post(self, reply: Reply) -> tuple[float, float, int]:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        body = postmark_body(reply)
        sent = time.time()
        try:
            response = session.post(
                self.url,
                data=body,
                auth=self.auth,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            status = response.status_code
        except requests.RequestException:
            status = 0
        record = (sent, time.time(), status)
        reply.sends.append(record)
        return record


def at_rate(
    items: Sequence[object], rate: float, send: Callable[[object], object], threads: int = 32
) -> float:
    """Open-loop load: item i is sent at start + i / rate whatever the server's pace (a
    slow server makes requests overlap, it does not slow the arrivals). Returns the
    seconds it took to send them all."""
    start = time.monotonic()
    lock = threading.Lock()
    cursor = iter(enumerate(items))

    def work() -> None:
        try:
            while True:
                with lock:
                    nxt = next(cursor, None)
                if nxt is None:
                    return
                number, item = nxt
                delay = start + number / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                send(item)
        finally:
            connection.close()

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.monotonic() - start
