"""OTLP trace intake end to end: OpenTelemetry's own Python SDK emits spans shaped like the AI
SDK's telemetry to a real exporter process, over protobuf (plain and gzip) and JSON, and the
simulator's ground truth shows every generation counted exactly once, whichever paths its ID
took. A span flood past the queue bound gets 503 with Retry-After, stores nothing of a refused
request, and the SDK's own retry gets the batch in once the queue drains.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from exporter import metrics, routes
from tests.support.generations import (
    assert_totals_match,
    expected_savings,
    expected_totals,
    observed_savings,
    observed_totals,
    priced_catalog_args,
)
from tests.support.otlp import (
    Recorder,
    app_tracer_provider,
    as_json,
    do_generate,
    provider_metadata,
    request,
    span,
)
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-e2e-otlp-0123456789"
TEAM = "default"
StartExporter = Callable[..., ExporterProcess]
QUEUE, SPANS = metrics.GENERATION_QUEUE_LENGTH, metrics.GENERATION_TRACE_SPANS
PROTOBUF, JSON = "application/x-protobuf", "application/json"

# One "conversation" of an application: a three-step tool loop, a streamed call, an embedding,
# and spans with no generation ID, as the AI SDK (experimental_telemetry) and the app emit them.
# The AI SDK records no provider metadata on embedding spans (ai.embed.doEmbed holds only
# ai.embeddings and ai.usage.tokens), so the app pushes an embedding's ID over POST /generations.
IDS_PER_CONVERSATION = 5
TRACED_PER_CONVERSATION = 4  # the tool loop's three steps and the streamed call
SPANS_WITH_ID = 6  # ai.generateText + 3 doGenerate, ai.streamText + doStream
SPANS_WITHOUT_ID = 6  # 2 ai.toolCall, ai.embed + doEmbed, the HTTP server span, a database span


def model_call(kind: str, gen_id: str, finish: str) -> dict[str, str | int]:
    """The attributes the AI SDK records on a text model call (doGenerate / doStream) and on
    its outer span, which carries the final step's provider metadata."""
    return {
        "operation.name": f"{kind} chat-handler",
        "ai.operationId": kind,
        "ai.model.provider": "gateway",
        "ai.model.id": "openai/gpt-5-mini",
        "ai.telemetry.functionId": "chat-handler",
        "ai.response.providerMetadata": provider_metadata(gen_id),
        "ai.response.id": "aitxt-3uQhNpx0f1X8",
        "ai.response.finishReason": finish,
        "ai.usage.promptTokens": 120,
        "ai.usage.completionTokens": 40,
        "gen_ai.system": "gateway",
        "gen_ai.request.model": "openai/gpt-5-mini",
        "gen_ai.response.id": "aitxt-3uQhNpx0f1X8",
        "gen_ai.response.finish_reasons": finish,
    }


def embedding_call(kind: str) -> dict[str, str | int]:
    """What the AI SDK records on embed spans: the model and usage, no provider metadata."""
    return {
        "operation.name": f"{kind} chat-handler",
        "ai.operationId": kind,
        "ai.model.provider": "gateway",
        "ai.model.id": "openai/text-embedding-3-small",
        # the outer span records the value, the model call the list it sent
        "ai.value" if kind == "ai.embed" else "ai.values": '"hello"',
        "ai.usage.tokens": 2,
    }


def conversation(tracer: Tracer, ids: Sequence[str]) -> None:
    """Five generations in the spans of one request to an app: ``ids`` are the tool loop's three
    steps and the streamed call, all in the trace, and the embedding, whose ID is not."""
    loop, streamed = ids[:3], ids[3]
    with tracer.start_as_current_span("POST /api/chat", attributes={"http.route": "/api/chat"}):
        # generateText with stopWhen: one model call per step, tool calls in between; the
        # outer span carries the final step's metadata again (result.providerMetadata).
        outer = model_call("ai.generateText", loop[-1], "stop")
        with tracer.start_as_current_span("ai.generateText", attributes=outer):
            for step, gen_id in enumerate(loop):
                last = step == len(loop) - 1
                finish = "stop" if last else "tool-calls"
                step_attributes = model_call("ai.generateText.doGenerate", gen_id, finish)
                with tracer.start_as_current_span(
                    "ai.generateText.doGenerate", attributes=step_attributes
                ):
                    pass
                if not last:
                    tool = {"ai.toolCall.name": "weather", "ai.toolCall.id": f"call_{step}"}
                    with tracer.start_as_current_span("ai.toolCall", attributes=tool):
                        pass
        outer = model_call("ai.streamText", streamed, "stop")
        with tracer.start_as_current_span("ai.streamText", attributes=outer):
            name = "ai.streamText.doStream"
            with tracer.start_as_current_span(
                name, attributes=model_call(name, streamed, "stop")
            ) as stream:
                stream.add_event("ai.stream.firstChunk", {"ai.response.msToFirstChunk": 210})
                stream.add_event("ai.stream.finish")
        with tracer.start_as_current_span("ai.embed", attributes=embedding_call("ai.embed")):
            name = "ai.embed.doEmbed"
            with tracer.start_as_current_span(name, attributes=embedding_call(name)):
                pass
        with tracer.start_as_current_span("SELECT chats", attributes={"db.system": "postgresql"}):
            pass


def embedding_ids(ids: Sequence[str]) -> list[str]:
    """The embeddings' IDs among a run of conversations' IDs (the last of each five)."""
    return list(ids[IDS_PER_CONVERSATION - 1 :: IDS_PER_CONVERSATION])


def conversations(tracer: Tracer, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), IDS_PER_CONVERSATION):
        conversation(tracer, ids[start : start + IDS_PER_CONVERSATION])


def send_with_sdk(exp: ExporterProcess, ids: Sequence[str], compression: Compression) -> None:
    """The app's own OTLP exporter: a batch processor flushed once, so one request."""
    recorder = Recorder(
        OTLPSpanExporter(endpoint=f"{exp.url}{routes.TRACES}", compression=compression, timeout=20)
    )
    # A long schedule delay: nothing leaves before force_flush, which sends one batch.
    processor = BatchSpanProcessor(recorder, schedule_delay_millis=600_000)
    tracer_provider = app_tracer_provider(processor)
    conversations(tracer_provider.get_tracer("ai"), ids)
    assert tracer_provider.force_flush(30_000)
    tracer_provider.shutdown()
    spans = len(ids) // IDS_PER_CONVERSATION * (SPANS_WITH_ID + SPANS_WITHOUT_ID)
    assert recorder.results == [(spans, SpanExportResult.SUCCESS)]


def sdk_request(ids: Sequence[str]) -> ExportTraceServiceRequest:
    """The same spans, encoded by the SDK's own encoder, for a request the test sends itself."""
    memory = InMemorySpanExporter()
    tracer_provider = app_tracer_provider(SimpleSpanProcessor(memory))
    conversations(tracer_provider.get_tracer("ai"), ids)
    tracer_provider.shutdown()
    return encode_spans(memory.get_finished_spans())


def post(
    exp: ExporterProcess, body: bytes, content_type: str, gzipped: bool = False
) -> httpx.Response:
    headers = {"Content-Type": content_type}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(f"{exp.url}{routes.TRACES}", content=body, headers=headers, timeout=30)


def send_json(exp: ExporterProcess, ids: Sequence[str], gzipped: bool) -> None:
    """OTLP/HTTP JSON (the Python SDK has no JSON exporter): hex IDs, lowerCamelCase keys."""
    resp = post(exp, as_json(sdk_request(ids)), JSON, gzipped)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(JSON)
    answer = json_format.Parse(resp.text, ExportTraceServiceResponse())
    assert not answer.HasField("partial_success"), answer


def post_ids(exp: ExporterProcess, ids: Sequence[str]) -> dict[str, object]:
    resp = httpx.post(f"{exp.url}{routes.GENERATIONS}", json={"ids": list(ids)}, timeout=30)
    assert resp.status_code == 202, resp.text
    answer: dict[str, object] = resp.json()
    return answer


def test_a_batch_of_big_prompts_sent_deflated_is_counted_whole(
    simulator_factory: Callable[..., SimulatorProcess], exporter_factory: StartExporter
) -> None:
    """AI SDK spans carry the prompt twice (``ai.prompt`` on the call, ``ai.prompt.messages``
    on its step): 30 calls with 100 KB prompts make one batch of about 6 MB, which Python's
    OTLP exporter may deflate. The batch is taken (a 413 is never retried: its IDs would be
    lost) and every ID in it counted."""
    sim = simulator_factory()
    ids = sim.control("generations", {"count": 30}, key=KEY)["ids"]
    exp = exporter_factory(sim.url, "--lookup.initial-delay=0s", env={"AI_GATEWAY_API_KEY": KEY})
    recorder = Recorder(
        OTLPSpanExporter(
            endpoint=f"{exp.url}{routes.TRACES}", compression=Compression.Deflate, timeout=30
        )
    )
    tracer_provider = app_tracer_provider(
        BatchSpanProcessor(recorder, schedule_delay_millis=600_000)
    )
    tracer = tracer_provider.get_tracer("ai")
    prompt = json.dumps([{"role": "user", "content": "how much? " * 10_000}])  # 100 KB
    for gen_id in ids:
        call = {**model_call("ai.generateText", gen_id, "stop"), "ai.prompt": prompt}
        with tracer.start_as_current_span("ai.generateText", attributes=call):
            name = "ai.generateText.doGenerate"
            step = {**model_call(name, gen_id, "stop"), "ai.prompt.messages": prompt}
            with tracer.start_as_current_span(name, attributes=step):
                pass
    assert tracer_provider.force_flush(60_000)
    tracer_provider.shutdown()
    assert recorder.results == [(60, SpanExportResult.SUCCESS)]
    exp.wait_looked_up(len(ids), 60, TEAM)
    assert exp.received("otlp", "accepted") == len(ids)


def test_every_generation_in_sdk_traces_is_counted_once_over_every_encoding(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: StartExporter,
) -> None:
    sim = simulator_factory("--ready-delay=0.5")
    per_encoding = 4 * IDS_PER_CONVERSATION
    ids = sim.control("generations", {"count": 4 * per_encoding}, key=KEY)["ids"]
    proto, proto_gzip, as_json_, json_gzip = (
        ids[i : i + per_encoding] for i in range(0, len(ids), per_encoding)
    )
    exp = exporter_factory(
        sim.url,
        "--lookup.initial-delay=0s",
        "--lookup.rate=200",
        f"--state.path={tmp_path / 'state.db'}",
        *priced_catalog_args(sim),
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    # The app also pushes IDs itself: all of one encoding's before its traces, all of another's
    # after them, and the embeddings' of the other two (no trace carries those).
    assert post_ids(exp, proto) == {"accepted": per_encoding, "duplicates": 0, "rejected": []}
    send_with_sdk(exp, proto, Compression.NoCompression)
    send_with_sdk(exp, proto_gzip, Compression.Gzip)
    send_json(exp, as_json_, gzipped=False)
    send_json(exp, json_gzip, gzipped=True)
    traced = TRACED_PER_CONVERSATION * per_encoding // IDS_PER_CONVERSATION
    embeddings = per_encoding - traced
    assert post_ids(exp, as_json_) == {"accepted": embeddings, "duplicates": traced, "rejected": []}
    pushed = embedding_ids(proto_gzip) + embedding_ids(json_gzip)
    assert post_ids(exp, pushed) == {"accepted": 2 * embeddings, "duplicates": 0, "rejected": []}

    exp.wait_looked_up(len(ids), 60, TEAM)
    truth = sim.team_truth(KEY)["generations"]
    assert len(truth) == len(ids)
    assert_totals_match(expected_savings(truth), observed_savings(exp, TEAM))
    assert_totals_match(expected_totals(truth), observed_totals(exp, TEAM))
    assert exp.received("otlp", "accepted") == 3 * traced
    assert exp.received("otlp", "duplicate") == traced  # those pushed before their traces
    assert exp.received("http", "accepted") == per_encoding + 3 * embeddings
    assert exp.received("http", "duplicate") == traced  # those pushed after their traces
    conversations_sent = len(ids) // IDS_PER_CONVERSATION
    assert exp.value(SPANS, vercel_team=TEAM, result="with_id") == (
        conversations_sent * SPANS_WITH_ID
    )
    assert exp.value(SPANS, vercel_team=TEAM, result="without_id") == (
        conversations_sent * SPANS_WITHOUT_ID
    )
    assert exp.value(metrics.GENERATION_IDS_ABANDONED, vercel_team=TEAM, reason="not_found") == 0

    # Sent again (a Collector's retry after a lost answer): nothing more is counted.
    send_json(exp, proto_gzip, gzipped=True)
    assert exp.received("otlp", "accepted") == 3 * traced
    assert_totals_match(expected_totals(truth), observed_totals(exp, TEAM))


def flood_request(ids: Sequence[str]) -> bytes:
    """One request of the flood: a model-call span per ID and as many spans without one."""
    spans = [do_generate(gen_id) for gen_id in ids]
    spans += [span("http.request", {"http.route": "/api/chat"}) for _ in ids]
    return request(spans).SerializeToString()


def test_a_span_flood_past_the_queue_bound_is_refused_whole_and_retried_by_the_sdk(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: StartExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = simulator_factory("--ready-delay=0")
    ids = sim.control("generations", {"count": 60}, key=KEY)["ids"]
    exp = exporter_factory(
        sim.url,
        "--ingest.max-pending=40",  # 30 of them through one intake path
        # Lookups held back a while, so the queue stays full through the flood and the SDK's
        # first attempt; then they drain it well inside the 30 s Retry-After.
        "--lookup.initial-delay=6s",
        "--lookup.rate=200",
        f"--state.path={tmp_path / 'state.db'}",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    batches = [ids[i : i + 10] for i in range(0, 60, 10)]
    answers = [post(exp, flood_request(batch), PROTOBUF) for batch in batches]
    assert [a.status_code for a in answers] == [200, 200, 200, 503, 503, 503]
    for refused in answers[3:]:
        assert refused.headers["retry-after"] == "30"
        assert refused.headers["content-type"] == PROTOBUF
        status = Status.FromString(refused.content)
        assert status.code == 14  # UNAVAILABLE, as the specification pairs it with 503
        assert "holds its share of the lookup queue of team default" in status.message
    # Nothing of a refused request is stored or counted: exactly the three accepted batches.
    assert exp.value(QUEUE, vercel_team=TEAM) == 30
    assert exp.received("otlp", "accepted") == 30
    assert exp.received("otlp", "duplicate") == 0
    assert exp.value(SPANS, vercel_team=TEAM, result="with_id") == 30
    assert exp.value(SPANS, vercel_team=TEAM, result="without_id") == 30

    # The refused IDs, now from the SDK: its first attempt meets the full queue, it waits the
    # Retry-After and sends again, and that is accepted.
    refused_ids = [gen_id for batch in batches[3:] for gen_id in batch]
    memory = InMemorySpanExporter()
    tracer_provider = app_tracer_provider(SimpleSpanProcessor(memory))
    tracer = tracer_provider.get_tracer("ai")
    for gen_id in refused_ids:
        name = "ai.generateText.doGenerate"
        with tracer.start_as_current_span(name, attributes=model_call(name, gen_id, "stop")):
            pass
    sdk_exporter = OTLPSpanExporter(
        endpoint=f"{exp.url}{routes.TRACES}", compression=Compression.Gzip, timeout=60
    )
    with caplog.at_level(logging.WARNING, logger="opentelemetry"):
        result = sdk_exporter.export(memory.get_finished_spans())
    sdk_exporter.shutdown()  # type: ignore[no-untyped-call]
    assert result is SpanExportResult.SUCCESS
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 1 and "retrying in 30.00s" in retries[0], retries

    exp.wait_looked_up(len(ids), 60, TEAM)
    assert exp.received("otlp", "accepted") == len(ids)
    assert exp.received("otlp", "duplicate") == 0
    assert_totals_match(
        expected_totals(sim.team_truth(KEY)["generations"]), observed_totals(exp, TEAM)
    )
