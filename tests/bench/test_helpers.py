"""The benchmark helpers measure what they claim: payloads, percentiles, load generator."""

import asyncio
import json
import os
import time
from email import message_from_bytes, policy
from io import BytesIO

import pytest
from django.http.multipartparser import MultiPartParser

from bench import payloads
from bench.common import (
    Client,
    Result,
    Retry,
    closed_loop,
    cpu_seconds,
    open_loop,
    percentile,
    summarise,
)
from bench.webhook_ingest import Measured


def test_percentiles_are_values_that_were_observed():
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_rounds_of_a_case_add_up_to_one_measurement_over_their_whole_time():
    def result(number: int, latency: float, status: int = 200) -> Result:
        return Result(number, start=0.0, latency=latency, status=status)

    first = Measured([result(1, 0.01), result(2, 0.03, 503)], 1.0, peak_rss=50, growth=5)
    second = Measured([result(3, 0.02), result(4, 0.04)], 0.5, peak_rss=70, growth=1)

    both = first + second

    assert both.summary["sent"] == 4 and both.summary["ok"] == 3
    assert both.summary["rate"] == 2.0  # 3 acknowledged in 1.5 s, not the mean of 1/s and 4/s
    assert both.summary["max"] == 0.04
    assert both.statuses == {200: 3, 503: 1}
    assert (both.peak_rss, both.growth) == (70, 5)


def test_cpu_time_counts_work_and_not_sleep():
    before = cpu_seconds(os.getpid())
    time.sleep(0.2)
    slept = cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.2:
        pass
    worked = cpu_seconds(os.getpid())

    assert slept - before < 0.1
    assert 0.15 < worked - slept < 0.5


def test_each_message_is_unique_and_the_same_size():
    template = payloads.postmark(payloads.reply_mime())

    first, second = template.render(1), template.render(2)

    assert first != second and len(first) == len(second) == template.size
    payload = json.loads(first)
    raw = payload["RawEmail"].encode()
    assert message_from_bytes(raw, policy=policy.default)["Message-ID"].lower() == (
        payloads.message_id(1)
    )
    assert payload["MessageID"] == payloads.unique_id(1)


def test_the_sizes_are_what_the_benchmark_says():
    small = payloads.reply_mime()
    large = payloads.reply_with_attachment(2 * 1024 * 1024)

    assert 19_000 < len(small) < 22_000
    assert 2_000_000 < len(large) < 2_200_000
    parsed = message_from_bytes(large, policy=policy.default)
    assert [part.get_content_type() for part in parsed.iter_attachments()] == ["image/png"]


@pytest.mark.parametrize(
    "template, message_field",
    [
        (payloads.mailgun(payloads.reply_mime(), signing_key="k"), "body-mime"),
        (payloads.sendgrid(payloads.reply_mime()), "email"),
    ],
    ids=["mailgun", "sendgrid"],
)
def test_the_form_payloads_carry_each_message_where_the_provider_does(template, message_field):
    body = template.render(1)
    meta = {"CONTENT_TYPE": template.content_type, "CONTENT_LENGTH": str(len(body))}

    fields, _ = MultiPartParser(meta, BytesIO(body), [], "utf-8").parse()

    raw = fields[message_field].encode()
    assert len(body) == template.size
    assert message_from_bytes(raw, policy=policy.default)["Message-ID"].lower() == (
        payloads.message_id(1)
    )


async def _server(statuses: list[int]) -> tuple[asyncio.AbstractServer, int, list[bytes]]:
    """Answers each post with the next status (the last one repeats), then closes, like
    gunicorn's sync workers."""
    bodies: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )  # fmt: skip
        bodies.append(await reader.readexactly(length))
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], bodies


def _request(number: int) -> tuple[str, dict[str, str], bytes]:
    return "/x/", {"Content-Type": "text/plain"}, f"message {number}".encode()


def test_the_closed_loop_counts_what_was_acknowledged():
    async def run():
        server, port, bodies = await _server([200])
        async with server:
            results, elapsed = await closed_loop(Client(port), _request, concurrency=3, count=30)
        return results, elapsed, bodies

    results, elapsed, bodies = asyncio.run(run())

    summary = summarise(results, elapsed)
    assert (summary["sent"], summary["ok"]) == (30, 30)
    assert sorted(bodies) == sorted(f"message {n}".encode() for n in range(30))


def test_the_open_loop_keeps_its_rate_and_retries_like_a_provider():
    async def run():
        server, port, bodies = await _server([503, 503, 200])
        async with server:
            results = await open_loop(
                Client(port), _request, rate=50, duration=0.2, retry=Retry(first=0.01)
            )
        return results, bodies

    results, bodies = asyncio.run(run())

    assert len(results) == 10
    assert all(r.status == 200 for r in results)
    assert sum(r.attempts for r in results) == len(bodies) == 12
    starts = [r.start for r in results]
    assert 0.17 < starts[-1] - starts[0] < 0.2


def test_a_refused_connection_is_status_zero():
    async def run():
        server, port, _ = await _server([200])
        server.close()
        await server.wait_closed()
        return await Client(port).post("/x/", {}, b"")

    assert asyncio.run(run()) == 0
