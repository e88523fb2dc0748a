"""Campaigns within the provider's quota: EMAIL_SEND_RATE paces every sender together, and
a provider that throttles means "later", never undeliverable. The provider is anymail's
real Postmark backend with only its HTTP call answered here."""

import ast
import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from anymail.exceptions import AnymailAPIError
from botocore.exceptions import ClientError, EndpointConnectionError
from django.db import OperationalError, connection
from django.utils import timezone
from django_q.models import Schedule

from core.actors import Actor
from mailflow import pacing
from mailflow import sending as mail_sending
from mailflow.due_requests import requests_process_due
from mailflow.models import ConfirmationRequest, SendRateSlot
from mailflow.pacing import send_slot_take, send_slot_wait
from mailflow.send_errors import SendFailure, send_failure_kind
from mailflow.sending import MAX_SEND_ATTEMPTS, request_send, requests_send_batch
from runbooks.models import RunbookRun
from runbooks.starting import runs_start_for_people
from tests.builders.redis_server import private_redis
from tests.factories import PersonFactory, category, open_incident

State = ConfirmationRequest.State

OK = 200, {"ErrorCode": 0, "Message": "OK"}
THROTTLED = 429, {"ErrorCode": 0, "Message": "Rate limit exceeded."}
PROVIDER_DOWN = 503, {"ErrorCode": 0, "Message": "Service unavailable."}
INACTIVE = (
    422,
    {
        "ErrorCode": 406,
        "Message": "You tried to send to a recipient that has been marked as inactive.\n"
        "Found inactive addresses: {to}.\n"
        "Inactive recipients are ones that have generated a hard bounce or a spam complaint.",
    },
)
BAD_FROM = 422, {"ErrorCode": 300, "Message": "Invalid 'From' address: 'soc@localhost'."}


class FakePostmark:
    """Postmark's HTTP API as anymail's Postmark backend sees it: `answer(to)` chooses
    (status, body) for each post; every accepted message is kept."""

    def __init__(self) -> None:
        self.answer: Callable[[str], tuple[int, dict]] = lambda to: OK
        self.accepted: list[str] = []
        self.posts = 0

    def __call__(self, method: str, url: str, **kwargs) -> requests.Response:
        if isinstance(self.answer, type) and issubclass(self.answer, Exception):
            raise self.answer("connection refused")
        payload = json.loads(kwargs["data"])
        to = payload["To"]
        self.posts += 1
        status, body = self.answer(to)
        body = {k: v.format(to=to) if isinstance(v, str) else v for k, v in body.items()}
        if status == 200:
            self.accepted.append(to)
            body = {
                "To": to,
                "SubmittedAt": "2026-12-04T10:00:00Z",
                "MessageID": f"pm-{self.posts}",
                **body,
            }
        response = requests.Response()
        response.status_code = status
        response.reason = {200: "OK", 422: "Unprocessable Entity", 429: "Too Many Requests"}.get(
            status, "Service Unavailable"
        )
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        return response


@pytest.fixture
def postmark(settings, monkeypatch) -> FakePostmark:
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "test-server-token"}
    monkeypatch.setattr(mail_sending, "THROTTLED_PAUSE", (0, 0))
    fake = FakePostmark()
    monkeypatch.setattr(requests.Session, "request", lambda session, *a, **kw: fake(*a, **kw))
    return fake


def ask_bob(committed, bob) -> ConfirmationRequest:
    incident = committed(open_incident, category=category("failed-login"), affected_user=bob)
    return ConfirmationRequest.objects.get(incident=incident)


def retry_now(committed, request: ConfirmationRequest) -> None:
    """What the scheduled retry does once its time has come."""
    ConfirmationRequest.objects.filter(pk=request.pk).update(send_lease_until=timezone.now())
    committed(request_send, request.pk)


# --- pacing -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_senders_together_never_exceed_the_send_rate(settings):
    settings.EMAIL_SEND_RATE = 20.0
    slots: list[float] = []
    sent_at: list[float] = []
    barrier = threading.Barrier(2)

    def take():
        while True:
            try:
                return send_slot_wait(horizon=10)
            except OperationalError as error:
                # The tests' in-memory SQLite shares its cache between threads and locks
                # whole tables, failing at once where a database file waits its turn.
                if connection.vendor != "sqlite" or "table is locked" not in str(error):
                    raise

    def sender() -> None:
        try:
            barrier.wait()
            for _ in range(10):
                slot = take()
                assert slot.taken
                slots.append(slot.at)
                sent_at.append(time.time())
        finally:
            connection.close()

    began = time.monotonic()
    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(slots) == 20
    ordered = sorted(slots)
    gaps = [later - earlier for earlier, later in itertools.pairwise(ordered)]
    assert min(gaps) >= 1 / 20 - 1e-5  # never two slots closer than 1/rate
    assert time.monotonic() - began >= 19 / 20 * 0.95
    for index, moment in enumerate(sorted(sent_at)):  # nobody sent before their slot
        assert moment >= ordered[index] - 1e-3


@pytest.fixture
def redis_url(tmp_path):
    with private_redis(tmp_path) as url:
        pacing._redis_script.cache_clear()
        yield url
    pacing._redis_script.cache_clear()


def test_with_redis_the_senders_share_the_rate_there(db, settings, redis_url):
    settings.EMAIL_SEND_RATE, settings.REDIS_URL = 20.0, redis_url
    slots: list[float] = []

    def sender() -> None:
        slots.extend(send_slot_wait(horizon=10).at for _ in range(10))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ordered = sorted(slots)
    assert len(ordered) == 20
    assert min(later - earlier for earlier, later in itertools.pairwise(ordered)) >= 1 / 20 - 1e-5
    assert send_slot_take(horizon=10).at >= ordered[-1] + 1 / 20 - 1e-5
    assert not SendRateSlot.objects.exists()  # counted in Redis, not the database


def test_without_a_send_rate_nobody_waits_and_nothing_is_counted(db, settings):
    settings.EMAIL_SEND_RATE = None
    began = time.monotonic()
    slots = [send_slot_wait() for _ in range(200)]

    assert all(slot.taken and slot.wait == 0 for slot in slots)
    assert time.monotonic() - began < 1
    assert not SendRateSlot.objects.exists()


def test_a_slot_too_far_away_is_not_taken_and_not_reserved(db, settings):
    settings.EMAIL_SEND_RATE = 1.0
    first, second, third = (send_slot_take(horizon=1.5) for _ in range(3))

    assert (first.taken, first.wait) == (True, 0)
    assert second.taken and 0.9 < second.wait <= 1
    assert not third.taken and 1.9 < third.wait <= 2
    # The refused sender reserved nothing: the next free slot is still the third one.
    assert send_slot_take(horizon=3).at == pytest.approx(third.at, abs=1e-3)


def test_a_campaign_is_paced_by_the_send_rate(shipped, committed, settings, postmark, monkeypatch):
    settings.EMAIL_SEND_RATE = 10.0
    monkeypatch.setattr(mail_sending, "SEND_CHUNK", 2)
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(6)]

    began = time.monotonic()
    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )

    assert time.monotonic() - began >= 5 / 10  # six emails at 10/s: the last 0.5 s later
    assert sorted(postmark.accepted) == sorted(p.email for p in people)
    assert set(ConfirmationRequest.objects.values_list("state", flat=True)) == {State.SENT}
    # Three sent by the worker that advanced the runs (marked 2 + 1), three handed to the
    # workers in tasks of SEND_CHUNK (2 + 1).
    sent = incident.timeline.filter(kind="request.sent").order_by("pk")
    sizes = [len(e.data.get("requests", [e.data.get("request")])) for e in sent]
    assert sorted(sizes) == [1, 1, 2, 2]


def test_a_campaign_past_the_horizon_is_put_back_for_a_later_task(
    shipped, committed, settings, postmark, monkeypatch
):
    settings.EMAIL_SEND_RATE = 1.0
    monkeypatch.setattr("mailflow.pacing.MAX_WAIT", 0.5)
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(3)]

    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )

    # The first email went in its slot; the next slot was a second away, so the other
    # two were put back, whole, for a scheduled task: nothing failed, nothing counted.
    assert len(postmark.accepted) == 1
    waiting = ConfirmationRequest.objects.filter(state=State.PENDING)
    assert waiting.count() == 2
    assert set(waiting.values_list("send_attempts", "send_deferrals", "last_error")) == {(0, 0, "")}
    assert all(r.send_lease_until > timezone.now() for r in waiting)
    (later,) = Schedule.objects.filter(func="mailflow.tasks.send_requests")
    assert sorted(ast.literal_eval(later.args)[0]) == sorted(r.pk for r in waiting)


# --- throttling is "later" --------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (THROTTLED, "the provider is throttling (over the account's send rate)"),
        (PROVIDER_DOWN, "the provider answered HTTP 503"),
        (requests.ConnectionError, "the connection to the provider failed"),
    ],
    ids=["HTTP 429", "HTTP 503", "connection error"],
)
def test_a_throttled_send_is_retried_later_and_never_makes_the_question_undeliverable(
    shipped, committed, bob, postmark, answer, said
):
    postmark.answer = answer if isinstance(answer, type) else (lambda to: answer)
    request = ask_bob(committed, bob)

    for _ in range(MAX_SEND_ATTEMPTS + 2):  # more rounds than failures are allowed
        retry_now(committed, request)

    request.refresh_from_db()
    assert request.state == State.PENDING
    assert (request.send_attempts, request.send_deferrals) == (0, MAX_SEND_ATTEMPTS + 3)
    assert request.last_error.startswith(f"Not sent yet, {said} (")
    assert "not counted as a failed attempt" in request.last_error
    assert request.send_lease_until > timezone.now()  # the next retry's time
    retries = Schedule.objects.filter(func="mailflow.tasks.send_request")
    assert retries.count() == MAX_SEND_ATTEMPTS + 3
    incident = request.incident
    assert not incident.timeline.filter(kind="request.undeliverable").exists()
    assert RunbookRun.objects.get(pk=request.run_id).state == RunbookRun.State.WAITING
    # Said plainly, once, not once per retry.
    (deferred,) = incident.timeline.filter(kind="request.deferred")
    assert deferred.summary.startswith(f"Sending put off: {said}")

    postmark.answer = lambda to: OK  # the provider accepts again
    retry_now(committed, request)

    request.refresh_from_db()
    assert (request.state, request.send_attempts) == (State.SENT, 1)
    assert postmark.accepted == [bob.email]
    assert incident.timeline.filter(kind="request.sent").count() == 1


def test_a_send_put_off_until_the_deadline_ends_unanswered_saying_it_never_went(
    shipped, committed, bob, postmark
):
    postmark.answer = lambda to: THROTTLED
    request = ask_bob(committed, bob)

    committed(requests_process_due, request.deadline_at + timedelta(seconds=1))

    request.refresh_from_db()
    assert (request.state, request.send_attempts) == (State.NO_ANSWER, 0)
    (expired,) = request.incident.timeline.filter(kind="request.expired")
    assert "never accepted by the provider: put off 1 times" in expired.body
    assert "throttling" in expired.body
    assert not request.incident.timeline.filter(kind="request.undeliverable").exists()


def test_a_send_throttled_once_goes_out_on_the_immediate_retry(shipped, committed, bob, postmark):
    answers = iter([THROTTLED, OK])
    postmark.answer = lambda to: next(answers)

    request = ask_bob(committed, bob)

    request.refresh_from_db()
    assert (request.state, request.send_attempts, request.send_deferrals) == (State.SENT, 1, 0)
    assert postmark.posts == 2 and postmark.accepted == [bob.email]


def test_a_campaign_the_provider_keeps_throttling_is_put_off_and_nobody_is_undeliverable(
    shipped, committed, postmark
):
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(4)]
    throttled = people[1].email
    postmark.answer = lambda to: THROTTLED if to == throttled else OK

    committed(
        runs_start_for_people,
        actor=Actor.system(),
        runbook=shipped["Phishing recipients"],
        incident=incident,
        people=people,
    )

    # The first went out; the second was put off after its quick retries, so the rest of
    # the batch was put back for a scheduled task instead of trying each against a
    # provider that says "later".
    requests = {r.recipient_email: r for r in ConfirmationRequest.objects.all()}
    assert postmark.accepted == [people[0].email]
    assert requests[throttled].send_deferrals == 1
    assert {(r.state, r.send_attempts) for e, r in requests.items() if e != people[0].email} == {
        (State.PENDING, 0)
    }
    (put_back,) = Schedule.objects.filter(func="mailflow.tasks.send_requests")
    assert sorted(ast.literal_eval(put_back.args)[0]) == sorted(
        requests[p.email].pk for p in people[2:]
    )
    assert incident.timeline.filter(kind="request.deferred").count() == 1
    assert not incident.timeline.filter(kind="request.undeliverable").exists()

    postmark.answer = lambda to: OK  # the provider accepts again, the retries come
    ConfirmationRequest.objects.update(send_lease_until=timezone.now())
    committed(requests_send_batch, ast.literal_eval(put_back.args)[0])
    retry_now(committed, requests[throttled])

    assert sorted(postmark.accepted) == sorted(p.email for p in people)
    assert set(ConfirmationRequest.objects.values_list("state", flat=True)) == {State.SENT}


# --- only a refusal of the recipient counts ---------------------------------------------


def test_a_refused_recipient_makes_the_question_undeliverable_at_once(
    shipped, committed, bob, postmark
):
    postmark.answer = lambda to: INACTIVE

    request = ask_bob(committed, bob)

    request.refresh_from_db()
    assert (request.state, request.send_attempts) == (State.UNDELIVERABLE, 1)
    (undeliverable,) = request.incident.timeline.filter(kind="request.undeliverable")
    assert "The provider refused the recipient: AnymailRecipientsRefused" in undeliverable.body
    # The run took its "undeliverable" branch.
    tasks = request.incident.tasks.values_list("title", flat=True)
    assert list(tasks) == ["Contact Bob Builder directly"]


def test_a_4xx_that_is_not_throttling_counts_as_a_failed_attempt(shipped, committed, bob, postmark):
    postmark.answer = lambda to: BAD_FROM

    request = ask_bob(committed, bob)
    request.refresh_from_db()
    assert (request.state, request.send_attempts, request.send_deferrals) == (State.PENDING, 1, 0)
    for _ in range(MAX_SEND_ATTEMPTS - 1):
        committed(request_send, request.pk)  # the scheduled retries

    request.refresh_from_db()
    assert request.state == State.UNDELIVERABLE
    assert request.incident.timeline.filter(kind="request.undeliverable").count() == 1


def _ses_error(code: str) -> AnymailAPIError:
    """What anymail's Amazon SES backend raises for a boto3 ClientError (post_to_esp)."""
    cause = ClientError({"Error": {"Code": code, "Message": "Maximum sending rate exceeded."},
                         "ResponseMetadata": {"HTTPStatusCode": 400}}, "SendEmail")  # fmt: skip
    try:
        raise AnymailAPIError(str(cause), response=cause.response) from cause
    except AnymailAPIError as error:
        return error


def _wrapped(cause: Exception) -> AnymailAPIError:
    try:
        raise AnymailAPIError(str(cause), response=None) from cause
    except AnymailAPIError as error:
        return error


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (_ses_error("Throttling"), SendFailure.LATER),
        (_ses_error("MaxSendRateExceeded"), SendFailure.LATER),
        (_ses_error("MessageRejected"), SendFailure.FAILED),
        (_wrapped(EndpointConnectionError(endpoint_url="https://ses")), SendFailure.LATER),
        (TimeoutError("timed out"), SendFailure.LATER),
        (ValueError("a bug"), SendFailure.FAILED),
    ],
    ids=["SES Throttling", "SES MaxSendRateExceeded", "SES MessageRejected",
         "SES connection error", "timeout", "a bug"],
)  # fmt: skip
def test_amazon_ses_throttling_and_connection_errors_are_later(error, kind):
    assert send_failure_kind(error) is kind


def test_an_invalid_sender_address_of_ours_is_not_a_refused_recipient():
    from anymail.exceptions import AnymailInvalidAddress

    from mailflow.send_errors import SendFailure, send_failure_kind

    error = AnymailInvalidAddress("Invalid email address 'SOC <soc@@example.org>' in from_email")

    assert send_failure_kind(error) is SendFailure.FAILED


def test_a_batch_cut_short_by_an_error_records_the_emails_already_taken(
    shipped, committed, postmark, monkeypatch
):
    incident = committed(open_incident, category=category("phishing"))
    people = [PersonFactory(first_name=f"P{n}", last_name="Person") for n in range(3)]
    slots = itertools.count()

    def third_slot_fails(**kwargs):
        if next(slots) == 2:
            raise RuntimeError("database is locked")
        return send_slot_take(**kwargs)

    monkeypatch.setattr(mail_sending, "send_slot_wait", third_slot_fails)
    with pytest.raises(RuntimeError):
        committed(
            runs_start_for_people,
            actor=Actor.system(),
            runbook=shipped["Phishing recipients"],
            incident=incident,
            people=people,
        )

    assert len(postmark.accepted) == 2
    states = ConfirmationRequest.objects.order_by("pk").values_list("state", flat=True)
    assert list(states) == [State.SENT, State.SENT, State.PENDING]
