"""The edge of ``POST /v1/traces`` bounds what one request may cost before anything walks it:
spans, and the resources, scopes, attributes, events and links a few kilobytes of gzip can
hold by the million; compressed and large bodies are decoded off the event loop."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from exporter import routes
from exporter.assembly import Components
from exporter.generations.intake import IntakeError
from exporter.web import otlp
from exporter.web.otlp import DECODE_SLOTS, ITEMS_PER_SPAN, JSON, OFF_LOOP_BYTES, PROTOBUF, measure
from tests.support.ids import gen_id
from tests.support.inprocess import built, serving
from tests.support.otlp import do_generate, request, span

MAX_SPANS = 10


def empty_scopes(count: int) -> bytes:
    """An ExportTraceServiceRequest of one resource holding ``count`` empty scopes, written
    out by hand: 2 bytes a scope, so two million gzip to about 4 KB."""
    scopes = b"\x12\x00" * count
    size, length = len(scopes), bytearray()
    while True:
        length.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            break
    return b"\x0a" + bytes(length) + scopes


def test_a_request_within_the_limits_measures_its_spans() -> None:
    message = request([do_generate(gen_id(1)), span("plain", {"a": 1})])
    assert measure(message, MAX_SPANS) == 2


@pytest.mark.parametrize(
    ("message", "what"),
    [
        (request([span(f"s{n}", {}) for n in range(MAX_SPANS + 1)]), "spans"),
        (ExportTraceServiceRequest.FromString(empty_scopes(MAX_SPANS + 1)), "scopes"),
        (
            ExportTraceServiceRequest(resource_spans=[request([]).resource_spans[0]] * 11),
            "resources",
        ),
        (
            request([span("wide", {f"k{n}": n for n in range(MAX_SPANS * ITEMS_PER_SPAN + 1)})]),
            "attributes, events and links",
        ),
    ],
    ids=["spans", "scopes", "resources", "attributes"],
)
def test_whatever_a_request_holds_too_much_of_is_refused_413(
    message: ExportTraceServiceRequest, what: str
) -> None:
    with pytest.raises(IntakeError, match=f"more than .* {what} in one request") as caught:
        measure(message, MAX_SPANS)
    assert caught.value.status == 413


def test_events_count_with_their_attributes() -> None:
    traced = span("events", {})
    for n in range(MAX_SPANS * ITEMS_PER_SPAN // 2):
        traced.events.add(name=f"e{n}").attributes.add(key="k")
    with pytest.raises(IntakeError, match="attributes, events and links"):
        measure(request([traced]), MAX_SPANS)


def test_items_of_two_bytes_each_are_still_counted() -> None:
    """``measure`` walks the spans only when the message is larger than two bytes per item
    allowed: the smallest item there is (an empty attribute) must not slip under that."""
    traced = span("empty", {})
    for _ in range(MAX_SPANS * ITEMS_PER_SPAN + 1):
        traced.attributes.add()
    assert traced.attributes[0].ByteSize() == 0  # two bytes in the span: tag and length
    with pytest.raises(IntakeError, match="attributes, events and links"):
        measure(request([traced]), MAX_SPANS)


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Components]:
    exp = built(tmp_path)
    async with serving(exp):
        yield exp


async def test_a_4_kb_gzip_of_two_million_empty_scopes_is_refused_off_the_loop(
    exporter: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: decoded on the event loop (the body is small), then every scope walked, about
    9 s of a loop that also answers scrapes."""
    threads: list[threading.Thread] = []
    decode = otlp.decode

    def recorded(*args: object) -> ExportTraceServiceRequest:
        threads.append(threading.current_thread())
        return decode(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(otlp, "decode", recorded)
    body = gzip.compress(empty_scopes(2_000_000))
    assert len(body) < 8192
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post(
            routes.TRACES,
            content=body,
            headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
        )
        plain = await client.post(
            routes.TRACES,
            content=request([do_generate(gen_id(2))]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
    assert answer.status_code == 413, answer.content
    assert b"scopes in one request" in answer.content
    assert plain.status_code == 200
    assert threads[0] is not threading.main_thread(), "a compressed body is decoded in a thread"
    assert threads[1] is threading.main_thread(), "a small plain one on the loop, as before"


async def test_a_request_naming_more_ids_than_a_push_may_is_refused_whole(
    exporter: Components,
) -> None:
    """--ingest.max-ids did not apply to spans: one client queued 1,000,000 made-up IDs in
    12.8 s and the team's queue answered 503 to every real ID for a day."""
    limit = exporter.generations.intake.max_ids
    spans = [do_generate(gen_id(n)) for n in range(limit // 2 + 1)]  # within the span limit
    for n, two in enumerate(spans):  # a second ID on each: every distinct ID counts
        two.attributes.add(key="gen_ai.response.id").value.string_value = gen_id(f"X{n}")
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post(
            routes.TRACES,
            content=request(spans).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
        within = await client.post(
            routes.TRACES,
            content=request(spans[:5]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
    assert answer.status_code == 413
    assert b"too many generation IDs in one request" in answer.content
    assert within.status_code == 200
    assert exporter.generations.mirror.pending.get("default", 0) == 10, "nothing of the first"


async def test_one_intake_path_cannot_fill_the_whole_queue(tmp_path: Path) -> None:
    """A flood of made-up IDs through spans filled the team's queue: every real ID, pushed or
    drained, was then refused with it. One path now holds at most 3/4 of the queue."""
    exp = built(tmp_path, {"ingest.max_pending": 8})
    intake = exp.generations.intake
    assert intake.path_share == 6
    async with serving(exp) as client:
        flood = await client.post(
            routes.TRACES,
            content=request([do_generate(gen_id(n)) for n in range(6)]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
        more = await client.post(
            routes.TRACES,
            content=request([do_generate(gen_id(6))]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
        pushed = await client.post(routes.GENERATIONS, json={"ids": [gen_id(7), gen_id(8)]})
        full = await client.post(routes.GENERATIONS, json={"ids": [gen_id(9)]})
    assert flood.status_code == 200
    assert more.status_code == 503 and more.headers["Retry-After"] == "30"
    assert b"intake path otlp holds its share" in more.content
    assert pushed.status_code == 202, pushed.text
    assert full.status_code == 503 and b"queue of team default is full" in full.content
    assert exp.generations.mirror.pending_paths == {("default", "otlp"): 6, ("default", "http"): 2}
    restarted = built(tmp_path, {"ingest.max_pending": 8})
    async with serving(restarted):
        assert restarted.generations.mirror.pending_paths == exp.generations.mirror.pending_paths


async def test_large_json_bodies_are_decoded_two_at_a_time_while_scrapes_answer(
    exporter: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTLP/JSON was decoded in pure Python on the event loop: 4 to 16 clients posting 4 MB
    batches held /metrics at 4 to 5 s. Here every decode is held until a scrape has been
    answered: on the loop, the scrape could not run at all."""
    release = threading.Event()
    lock = threading.Lock()
    running, peak, threads = [0], [0], []
    decode = otlp.decode

    def held(*args: object) -> ExportTraceServiceRequest:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.append(threading.current_thread())
        try:
            release.wait(10)
            return decode(*args)  # type: ignore[arg-type]
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(otlp, "decode", held)
    bodies = []
    for n in range(6):
        call = do_generate(gen_id(n))
        call.attributes.add(key="ai.prompt").value.string_value = "x" * OFF_LOOP_BYTES
        bodies.append(json_format.MessageToJson(request([call])).encode())
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        posts = [
            asyncio.create_task(
                client.post(routes.TRACES, content=body, headers={"Content-Type": JSON})
            )
            for body in bodies
        ]
        for _ in range(1000):
            if running[0] == DECODE_SLOTS:
                break
            await asyncio.sleep(0.01)
        scrape = await client.get(routes.DEFAULT_METRICS)
        decoding = running[0]
        release.set()
        answers = await asyncio.gather(*posts)
    assert scrape.status_code == 200 and decoding == DECODE_SLOTS, "scraped while decoding"
    assert [a.status_code for a in answers] == [200] * len(bodies), answers[0].content
    assert peak[0] == DECODE_SLOTS, "never more bodies decoded at once"
    assert threading.main_thread() not in threads
