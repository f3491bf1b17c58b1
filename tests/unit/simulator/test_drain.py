"""The simulator's trace drain: spans shaped as AI Gateway's Trace Drains page describes them,
values equal to the records, both delivery formats, the signature, and a sender that retries
what was not acknowledged and can send a delivery again."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from exporter.assembly import Components
from exporter.clock import SystemClock
from exporter.generations.drain import attributes_of, record_fields
from exporter.metrics import (
    GENERATION_COST,
    MODEL_FALLBACKS,
    PROVIDER_ATTEMPTS,
    REQUESTS_FAILED,
)
from exporter.simulator.app import create_app
from exporter.simulator.drain import DrainSender, delivery, sign, trace
from exporter.simulator.state import Simulator
from exporter.web.otlp import decode
from tests.support.drain import running

SECRET = "simulated-drain-secret"
KEY = "vck_" + "s" * 40


def test_a_trace_is_a_root_routing_model_attempts_and_provider_calls() -> None:
    sim = Simulator(seed=4)
    world = sim.world_for(KEY)
    gen = next(g for g in (sim.generate(world) for _ in range(500)) if g.fallbacks)
    spans = trace(gen, random.Random(1))
    root, routing, *rest = spans
    assert root.name == f"chat {gen.model}" and root.kind == Span.SPAN_KIND_SERVER
    assert not root.parent_span_id and routing.name == "vercel.ai_gateway.routing"
    assert {s.trace_id for s in spans} == {root.trace_id}
    model_attempts = [s for s in rest if s.name.startswith("vercel.ai_gateway.model_attempt")]
    calls = [s for s in rest if s.kind == Span.SPAN_KIND_CLIENT]
    assert [s.name.split(" ", 1)[1] for s in model_attempts] == [*gen.fallbacks, gen.model]
    assert [s.name for s in calls] == [f"{a.model} ({a.provider})" for a in gen.attempts]
    by_id = {s.span_id: s for s in spans}
    assert all(by_id[c.parent_span_id].name.endswith(c.name.split(" (")[0]) for c in calls)
    attrs = attributes_of(root)
    assert attrs["vercel.ai_gateway.generation.id"] == gen.id
    assert attrs["gen_ai.request.model"] == gen.fallbacks[0]  # what the client asked for
    assert attrs["gen_ai.response.model"] == gen.model


def test_the_root_says_what_the_record_says() -> None:
    sim = Simulator(seed=5)
    world = sim.world_for(KEY)
    for gen in [sim.generate(world) for _ in range(200)] + [sim.embed(world) for _ in range(20)]:
        root = trace(gen, random.Random(2))[0]
        fields = record_fields(root, attributes_of(root))
        record = gen.record()
        assert Decimal(str(fields["total_cost"])) == record["total_cost"]
        assert fields["generation_time"] == record["generation_time"]
        assert fields["native_tokens_prompt"] == record["native_tokens_prompt"]
        assert fields["native_tokens_completion"] == record["native_tokens_completion"]
        assert fields.get("native_tokens_cached", 0) == record["native_tokens_cached"]
        assert fields["streamed"] is record["streamed"]
        if gen.streamed:
            assert fields["latency"] == record["latency"]
        assert fields["is_byok"] is record["is_byok"]
        assert fields["provider_name"] == record["provider_name"]
        assert attributes_of(root)["gen_ai.operation.name"] == gen.operation


async def test_a_failed_request_has_an_error_root_and_no_record() -> None:
    sim = Simulator(seed=6)
    world = sim.world_for(KEY)
    failure = sim.fail(world)
    root = trace(failure, random.Random(3))[0]
    assert root.status.code == Status.STATUS_CODE_ERROR
    assert attributes_of(root)["error.type"] == failure.error_type
    assert failure.id not in world.generations
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        answer = await client.get(
            "/v1/generation", params={"id": failure.id}, headers={"Authorization": f"Bearer {KEY}"}
        )
    assert answer.status_code == 404


@pytest.mark.parametrize(("fmt", "compress"), [("json", False), ("protobuf", True)])
def test_both_formats_decode_to_the_same_spans_and_are_signed(fmt: str, compress: bool) -> None:
    sim = Simulator(seed=7)
    world = sim.world_for(KEY)
    requests = [sim.generate(world) for _ in range(5)] + [sim.fail(world)]
    body, headers = delivery(requests, SECRET, "protobuf", False, random.Random(9))
    other, other_headers = delivery(
        requests, SECRET, "json" if fmt == "json" else "protobuf", compress, random.Random(9)
    )
    assert other_headers["x-vercel-signature"] == sign(other, SECRET)
    encoding = other_headers.get("Content-Encoding", "")
    media = other_headers["Content-Type"]
    assert decode(other, media, encoding, 1 << 22) == decode(
        body, headers["Content-Type"], "", 1 << 22
    )
    if fmt == "json":
        first = json.loads(other)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        assert first["kind"] == "server" and len(first["traceId"]) == 32  # as Vercel spells it


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Components]:
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET)
    flags = {"drain.secret_file": str(secret), "catalog.enabled": "false"}
    async with running(tmp_path, flags, SystemClock()) as exp:
        yield exp


def family_total(exp: Components, name: str) -> Decimal:
    return sum(
        (v.total for k, v in exp.generations.mirror.values.items() if k.metric == name),
        Decimal(0),
    )


def family_count(exp: Components, name: str) -> int:
    return sum(v.count for k, v in exp.generations.mirror.values.items() if k.metric == name)


async def test_what_the_sender_delivers_the_exporter_counts_as_the_truth_says(
    exporter: Components,
) -> None:
    sim = Simulator(seed=8, embedding_share=0.2, failure_share=0.1)
    sender = DrainSender("http://exporter/v1/traces", SECRET, "protobuf", batch=40)
    sim.request_listeners.append(sender.take)
    world = sim.world_for(KEY)
    for _ in range(150):
        sim._arrive(world)
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport) as client:
        await sender.flush(client)
        assert sender.redeliver()
        await sender.flush(client)  # the same body again: counted nothing
    generations, failures = list(world.generations.values()), list(world.failures.values())
    assert failures and any(g.operation == "embeddings" for g in generations)
    assert sender.counts.deliveries == 5 and sender.counts.traces == 150
    assert family_count(exporter, GENERATION_COST.name) == len(generations)
    assert family_total(exporter, GENERATION_COST.name) == sum(g.total_cost for g in generations)
    assert family_total(exporter, REQUESTS_FAILED.name) == len(failures)
    attempts = sum(len(g.attempts) for g in generations) + sum(len(f.attempts) for f in failures)
    assert family_total(exporter, PROVIDER_ATTEMPTS.name) == attempts
    fallbacks = sum(len(g.fallbacks) for g in generations)
    assert family_total(exporter, MODEL_FALLBACKS.name) == fallbacks


async def test_a_delivery_not_acknowledged_is_sent_again() -> None:
    answers = iter([503, 200])
    seen: list[bytes] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(next(answers))

    sim = Simulator(seed=9)
    sender = DrainSender("http://endpoint/v1/traces", SECRET)
    sender.take("team", sim.generate(sim.world_for(KEY)))
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as client:
        await sender.flush(client)
        assert sender.counts.deliveries == 0 and sender.counts.failed_posts == 1
        await sender.flush(client)
    assert sender.counts.deliveries == 1 and seen[0] == seen[1]


def test_sampling_sends_a_share_and_counts_the_rest() -> None:
    sim = Simulator(seed=10)
    sender = DrainSender("http://x/v1/traces", SECRET, sample_rate=0.25)
    world = sim.world_for(KEY)
    for _ in range(400):
        sender.take(world.name, sim.generate(world))
    sent = len(sender._waiting)
    assert sent + sender.counts.sampled_out == 400
    assert 60 < sent < 140


def test_the_seeded_chat_traffic_is_the_same_with_embeddings_and_failures_asked_for() -> None:
    """New draws come from their own generator: a seed's chat generations do not move."""
    plain, mixed = Simulator(seed=11), Simulator(seed=11)
    a, b = plain.world_for(KEY), mixed.world_for(KEY)
    first = [plain.generate(a).record() for _ in range(20)]
    mixed.embed(b)
    mixed.fail(b)
    second = [mixed.generate(b).record() for _ in range(20)]
    strip = ("id", "created_at")
    assert [{k: v for k, v in r.items() if k not in strip} for r in first] == [
        {k: v for k, v in r.items() if k not in strip} for r in second
    ]
