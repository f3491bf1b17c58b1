"""OTLP trace intake in process: decoding as the specification defines it, every generation ID
a span can carry, team mapping, and the answers a Collector acts on."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client.parser import text_string_to_metric_families

from exporter import routes
from exporter.assembly import Components, build
from exporter.clock import FakeClock
from exporter.config import OtlpConfig, load_config
from exporter.generations.intake import IntakeError
from exporter.generations.otlp import TeamMapping, every_id
from exporter.generations.otlp import generation_ids as ids_of
from exporter.metrics import (
    GENERATION_IDS_RECEIVED,
    GENERATION_TRACE_SPANS,
    GENERATION_TRACE_SPANS_REJECTED,
)
from exporter.teams import resolve_teams
from exporter.web.otlp import JSON, PROTOBUF, decode
from tests.support.ids import gen_id
from tests.support.otlp import as_json, do_generate, provider_metadata, request, span

A, B, C, D = (gen_id(f"5FA{c}") for c in "ABCD")
LIMIT = 1 << 20


def test_the_gateway_metadata_and_response_ids_are_read_first() -> None:
    assert ids_of(do_generate(A)) == [A]
    step = span(
        "ai.streamText.doStream",
        {"ai.response.providerMetadata": provider_metadata(A), "gen_ai.response.id": B},
    )
    assert ids_of(step) == [A, B]
    assert ids_of(span("ai.embed.doEmbed", {"ai.response.id": "chatcmpl-123"})) == []


def test_every_string_is_read_only_when_asked() -> None:
    forwarded = span(
        "vercel.forwarded",
        {"http.url": f"https://x/v1/generation?id={C}", "tags": ["a", f"id:{D}"]},
        events=[{"note": f"generation {A} done"}],
    )
    assert ids_of(forwarded) == []
    assert sorted(every_id(forwarded)) == [A, C, D]
    assert every_id(span("x", {"not": f"xgen_{A[4:]}", "bad": "{not json"})) == []
    assert ids_of(span("x", {"ai.response.providerMetadata": "{not json"})) == []


def test_prompt_history_and_errors_give_no_id() -> None:
    """An AI SDK 6 step of a long chat: its prompt re-sends the earlier calls' provider
    metadata as providerOptions (useChat keeps it on UI parts), and a failed call's exception
    ends its message with the ID of a generation that has no record."""
    earlier = json.dumps(
        [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "hello"}],
                "providerOptions": {"gateway": {"generationId": B}},
            },
        ]
    )
    step = span(
        "ai.streamText.doStream",
        {
            "ai.prompt.messages": earlier,
            "ai.prompt": json.dumps({"messages": json.loads(earlier)}),
            "gen_ai.input.messages": earlier,
            "ai.response.providerMetadata": provider_metadata(A),
            "ai.response.id": "aitxt-Yl4tM1xqVsC0dn9gL2pCqJnY",
            # the model's own output may quote any ID: never read either
            "ai.response.text": f"Your last request was {D}.",
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": D}]),
        },
    )
    assert ids_of(step) == [A], "the fallback scan never runs when the metadata holds an ID"
    failed = span(
        "ai.generateText.doGenerate",
        {"ai.prompt.messages": earlier},
        events=[
            {
                "exception.type": "GatewayInternalServerError",
                "exception.message": f"Failed after 3 attempts. Last error: upstream [{C}]",
                "exception.stacktrace": f"GatewayInternalServerError: upstream [{C}]\n at x",
            }
        ],
    )
    assert ids_of(failed) == []
    assert sorted(every_id(failed)) == sorted([B, C])  # what the opt-in scan would read


def test_protobuf_json_and_gzip_decode_to_the_same_request() -> None:
    message = request([do_generate(A), span("plain", {})])
    as_proto = message.SerializeToString()
    assert decode(as_proto, PROTOBUF, "", LIMIT) == message
    assert decode(gzip.compress(as_proto), PROTOBUF, "gzip", LIMIT) == message
    from_json = decode(as_json(message), JSON, "", LIMIT)
    assert [s.name for s in from_json.resource_spans[0].scope_spans[0].spans] == [
        "ai.generateText.doGenerate",
        "plain",
    ]
    assert ids_of(from_json.resource_spans[0].scope_spans[0].spans[0]) == [A]


@pytest.mark.parametrize(
    ("body", "media", "encoding", "status", "text"),
    [
        (request([do_generate(A)]).SerializeToString()[:-7], PROTOBUF, "", 400, "protobuf"),
        (b'{"resourceSpans": "many"}', JSON, "", 400, "JSON"),
        (b'"AAA"', JSON, "", 400, "not an object"),
        (b'{"resourceSpans": [' * 5000, JSON, "", 400, "JSON"),
        (b"\x1f\x8b not gzip", PROTOBUF, "gzip", 400, "not valid gzip"),
        (gzip.compress(b"\0" * (LIMIT + 1)), PROTOBUF, "gzip", 413, "once decompressed"),
        (b"", PROTOBUF, "br", 415, "Content-Encoding"),
    ],
    ids=[
        "truncated protobuf",
        "wrong types",
        "not an object",
        "deep",
        "bad gzip",
        "gzip bomb",
        "brotli",
    ],
)
def test_bad_bodies_get_the_answer_the_specification_prescribes(
    body: bytes, media: str, encoding: str, status: int, text: str
) -> None:
    with pytest.raises(IntakeError, match=text) as caught:
        decode(body, media, encoding, LIMIT)
    assert caught.value.status == status


def test_the_team_comes_from_the_span_then_the_resource_then_the_request() -> None:
    config = OtlpConfig(team_attribute="deployment.environment", team_map=["production=prod"])
    mapping = TeamMapping(config, ["prod", "staging"])
    resource = request([], {"deployment.environment": "staging"}).resource_spans[0]
    attrs = resource.resource.attributes
    assert mapping.team(span("s", {"deployment.environment": "production"}), attrs, "x") == "prod"
    assert mapping.team(span("s", {}), attrs, "prod") == "staging"
    assert mapping.team(span("s", {"deployment.environment": "qa"}), attrs, "prod") is None
    assert mapping.team(span("s", {}), [], "prod") == "prod"
    with pytest.raises(ValueError, match="unknown team 'nope'"):
        TeamMapping(OtlpConfig(team_map=["x=nope"]), ["prod"])


# --- through the app, as the service wires it

KEY = "vck_" + "k" * 40


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Components]:
    config = load_config(
        None,
        {},
        {
            "state.path": str(tmp_path / "state.db"),
            "otlp.team_attribute": "deployment.environment",
            "otlp.team_map": ["production=default"],
        },
    )
    exp = build(config, resolve_teams(config, {"AI_GATEWAY_API_KEY": KEY}), FakeClock())
    writer = asyncio.create_task(exp.generations.writer.run())
    yield exp
    writer.cancel()
    await exp.generations.close()


async def post(exp: Components, body: bytes, media: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=exp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            routes.TRACES, content=body, headers={"Content-Type": media, **headers}
        )


def received(exp: Components, result: str) -> Any:
    wanted = {"intake": "otlp", "result": result}
    for key, value in exp.generations.mirror.values.items():
        if (
            key.metric == GENERATION_IDS_RECEIVED.name
            and wanted.items() <= dict(key.labels).items()
        ):
            return value.total
    return 0


async def samples(exp: Components) -> dict[tuple[str, str], float]:
    """{(sample name, sorted label values): value} of a scrape."""
    transport = httpx.ASGITransport(app=exp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = (await client.get(routes.DEFAULT_METRICS)).text
    return {
        (s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_ids_are_stored_once_and_refused_spans_reported(exporter: Components) -> None:
    spans = [
        do_generate(A),
        do_generate(B),
        do_generate(A),
        span("db.query", {}),
        span("ai.generateText.doGenerate", {"deployment.environment": "qa"}),
    ]
    resp = await post(exporter, request(spans).SerializeToString(), PROTOBUF)
    assert resp.status_code == 200 and resp.headers["content-type"] == PROTOBUF
    answer = ExportTraceServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_spans == 1
    assert "name no configured team in deployment.environment: 'qa'" in (
        answer.partial_success.error_message
    )
    assert exporter.generations.mirror.pending == {"default": 2}
    again = await post(exporter, as_json(request([do_generate(A)])), JSON)
    assert again.status_code == 200 and again.headers["content-type"] == JSON
    assert (
        json_format.Parse(
            again.content, ExportTraceServiceResponse()
        ).partial_success.rejected_spans
        == 0
    )
    assert (received(exporter, "accepted"), received(exporter, "duplicate")) == (2, 1)
    scraped = await samples(exporter)
    counted = GENERATION_TRACE_SPANS.name
    assert scraped[(counted, "result=with_id,vercel_team=default")] == 4
    assert scraped[(counted, "result=without_id,vercel_team=default")] == 1
    assert scraped[(GENERATION_TRACE_SPANS_REJECTED.name, "reason=unknown_team")] == 1


async def test_errors_are_a_status_in_the_request_encoding(exporter: Components) -> None:
    bad = await post(exporter, b"\x0a\xff\xff", PROTOBUF)
    assert bad.status_code == 400
    assert "not an OTLP protobuf" in Status.FromString(bad.content).message
    unknown = await post(exporter, b"x", "text/plain")
    assert unknown.status_code == 415
    exporter.generations.intake.max_pending = 1
    full = await post(
        exporter, request([do_generate(C), do_generate(D)]).SerializeToString(), PROTOBUF
    )
    assert full.status_code == 503 and full.headers["retry-after"] == "30"
    assert "queue of team default is full" in Status.FromString(full.content).message
    assert exporter.generations.mirror.pending.get("default", 0) == 0, "nothing stored"


async def test_spans_without_a_team_go_to_the_query_team_else_the_first(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "teams:\n  - {name: prod, api_key_env: K1}\n  - {name: staging, api_key_env: K2}\n"
    )
    config = load_config(config_file, {}, {"state.path": str(tmp_path / "state.db")})
    teams = resolve_teams(config, {"K1": KEY, "K2": KEY + "2"})
    exp = build(config, teams, FakeClock())
    writer = asyncio.create_task(exp.generations.writer.run())
    transport = httpx.ASGITransport(app=exp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for query, gen_id in (("", A), ("?team=staging", B)):
            resp = await client.post(
                routes.TRACES + query,
                content=request([do_generate(gen_id)]).SerializeToString(),
                headers={"Content-Type": PROTOBUF},
            )
            assert resp.status_code == 200
        unknown = await client.post(
            routes.TRACES + "?team=qa",
            content=request([do_generate(C)]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
        assert (
            unknown.status_code == 400
            and "unknown team" in Status.FromString(unknown.content).message
        )
    assert exp.generations.mirror.pending == {"prod": 1, "staging": 1}
    writer.cancel()
    await exp.generations.close()


async def test_the_queue_bound_holds_under_concurrency_and_nothing_is_half_stored(
    exporter: Components,
) -> None:
    """Concurrent requests cannot all pass the bound while their commits are awaited, and a
    trace whose IDs would overfill a queue is refused before any of them is stored."""
    exporter.generations.intake.max_pending = 20
    ids = [gen_id(f"{n:04d}") for n in range(80)]
    batches = [ids[n : n + 5] for n in range(0, 80, 5)]
    answers = await asyncio.gather(
        *(
            post(exporter, request([do_generate(i) for i in batch]).SerializeToString(), PROTOBUF)
            for batch in batches
        )
    )
    assert exporter.generations.mirror.pending["default"] <= 20
    stored = sum(resp.status_code == 200 for resp in answers)
    assert stored * 5 == exporter.generations.mirror.pending["default"], "all or nothing"
    assert {resp.status_code for resp in answers} == {200, 503}


def test_every_gzip_member_is_decoded() -> None:
    """A concatenation of gzip members is one gzip stream to every reader: spans after the
    first member were lost with a 200."""
    first, second = request([do_generate(A)]), request([do_generate(B)])
    both = first.SerializeToString() + second.SerializeToString()  # protobuf concatenates
    half = len(first.SerializeToString())
    body = gzip.compress(both[:half]) + gzip.compress(both[half:])
    decoded = decode(body, PROTOBUF, "gzip", LIMIT)
    assert [ids_of(s) for rs in decoded.resource_spans for s in rs.scope_spans[0].spans] == [
        [A],
        [B],
    ]
    with pytest.raises(IntakeError, match="once decompressed") as caught:
        decode(gzip.compress(b"\0" * (LIMIT // 2)) * 3, PROTOBUF, "gzip", LIMIT)
    assert caught.value.status == 413
