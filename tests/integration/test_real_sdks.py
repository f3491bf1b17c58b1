"""The real client libraries, run as a user runs them, against a real exporter over real sockets:
every generation ID that reaches the exporter is counted once, and the IDs a span carries
elsewhere (a chat's earlier turns in its prompt, a failed call's ID in its error) add nothing.

The AI SDK 5, 6 and 7 with their real telemetry and the OpenTelemetry JS SDK's OTLP/HTTP
protobuf exporter run in ``node tests/sdk/run.mjs`` (the npm packages pinned in
``tests/sdk/package-lock.json``, installed by ``make test``); only the model is a mock, from
each version's ``ai/test``, answering with the gateway's provider metadata. The Python
``openai`` SDK with ``opentelemetry-instrumentation-openai-v2`` talks to a small stand-in for
the gateway's OpenAI-compatible API. The generations are the simulator's, so each ID is looked
up and its cost compared with the simulator's ground truth.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from openai import OpenAI
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from exporter import metrics, routes
from exporter.generations.otlp import RESPONSE_PLACES
from tests.support.generations import assert_totals_match, expected_totals, observed_totals
from tests.support.ids import live_id
from tests.support.otlp import Recorder, app_tracer_provider
from tests.support.processes import REPO_ROOT
from tests.support.stack import ExporterProcess, SimulatorProcess

SDK = REPO_ROOT / "tests" / "sdk"
RUN = SDK / "run.mjs"
KEY = "sk-e2e-real-sdks-0123456789"
TEAM = "default"
MODEL_CALLS = metrics.GENERATION_MODEL_CALL_SPANS
# The setups of run.mjs that record the provider metadata: AI SDK 5 and 6 with
# experimental_telemetry, AI SDK 7 with the OpenTelemetry integration (providerMetadata: true),
# also under @vercel/otel, and with LegacyOpenTelemetry.
RECORDING = ("ai5", "ai6", "ai7", "ai7-vercel-otel", "ai7-legacy")
# Those whose spans record the prompt with the earlier turns' provider metadata (AI SDK 7's
# OpenTelemetry integration leaves the provider options out of gen_ai.input.messages).
PROMPT_HISTORY = ("ai5", "ai6", "ai7-legacy")
# Those whose gateway errors end in the generation ID (AI SDK 5's gateway provider names none).
ERROR_IDS = ("ai6", "ai7", "ai7-legacy")


@dataclass(frozen=True)
class Stack:
    """The simulated gateway and an exporter that looks its generations up at once."""

    sim: SimulatorProcess
    exp: ExporterProcess

    def generations(self, count: int) -> list[str]:
        """IDs of ``count`` new generations with records, made now."""
        ids: list[str] = self.sim.control("generations", {"count": count}, key=KEY)["ids"]
        return ids

    def assert_counted_once(self, ids: Sequence[str]) -> None:
        """Exactly ``ids`` arrived on the trace intake, once each, and each generation's cost
        is counted once (the simulator's ground truth)."""
        self.exp.wait_looked_up(len(ids), 30, TEAM)
        assert self.exp.received("otlp", "accepted") == len(ids)
        assert self.exp.received("otlp", "duplicate") == 0
        for result in ("rejected", "stale", "future"):
            assert self.exp.received("otlp", result) == 0, result
        truth = self.sim.team_truth(KEY)["generations"]
        assert sorted(g["id"] for g in truth) == sorted(ids)
        assert_totals_match(expected_totals(truth), observed_totals(self.exp, TEAM))


@pytest.fixture
def stack(
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> Stack:
    sim = simulator_factory("--ready-delay=0")
    exp = exporter_factory(
        sim.url, "--lookup.initial-delay=0s", "--lookup.rate=200", env={"AI_GATEWAY_API_KEY": KEY}
    )
    return Stack(sim, exp)


@dataclass(frozen=True)
class AppRun:
    """What one ``run.mjs`` reported: each export, and where in the spans each ID was."""

    exports: list[dict[str, Any]]  # size (about what was sent), ok
    places: dict[str, list[str]]

    def ids_outside_responses(self) -> set[str]:
        """The IDs the spans carried in places other than a response (prompt, exception)."""
        return {
            i for place, ids in self.places.items() if place not in RESPONSE_PLACES for i in ids
        }


def run_app(exp: ExporterProcess, setup: str, scenario: str, ids: Sequence[str]) -> AppRun:
    """One application run of ``run.mjs``, exporting to ``exp`` as the docs tell users to
    (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); every export must have succeeded."""
    assert (SDK / "node_modules" / "ai").is_dir(), (
        f"{SDK / 'node_modules'} is missing: install the pinned npm packages with "
        "'npm ci --prefix tests/sdk' (make test does it)"
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{exp.url}{routes.TRACES}",
        # The batch span processor's timer never fires first: each flush is one export,
        # however slow the machine.
        "OTEL_BSP_SCHEDULE_DELAY": "600000",
    }
    done = subprocess.run(
        ["node", str(RUN), setup, scenario, *ids],
        cwd=SDK,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    run = AppRun(report["exports"], report["places"])
    assert all(e["ok"] for e in run.exports), run.exports
    return run


@pytest.mark.parametrize("setup", RECORDING)
def test_every_generated_and_streamed_call_is_counted_once(stack: Stack, setup: str) -> None:
    ids = stack.generations(4)  # two generateText, two streamText
    run_app(stack.exp, setup, "calls", ids)
    stack.assert_counted_once(ids)
    assert stack.exp.value(MODEL_CALLS, vercel_team=TEAM, result="with_id") == len(ids)
    assert stack.exp.value(MODEL_CALLS, vercel_team=TEAM, result="without_id") == 0


@pytest.mark.parametrize("setup", PROMPT_HISTORY)
def test_a_chat_s_earlier_turns_in_its_prompt_are_not_counted_again(
    stack: Stack, setup: str
) -> None:
    """Each turn of a chat re-sends the earlier turns' generation IDs in its prompt, exported
    after those turns' own spans: a prompt read for IDs would count them again (as duplicates
    here; as new generations once their dedup rows are gone)."""
    ids = stack.generations(3)
    run = run_app(stack.exp, setup, "chat", ids)
    assert run.ids_outside_responses() == set(ids[:-1])  # they were there to be misread
    stack.assert_counted_once(ids)


@pytest.mark.parametrize("setup", ERROR_IDS)
def test_the_id_in_a_failed_call_s_gateway_error_is_not_taken(stack: Stack, setup: str) -> None:
    """A failed gateway request has no record: its ID, at the end of the error message the
    span's exception event keeps, would be looked up in vain and given up on."""
    (ok,) = stack.generations(1)
    failed = [live_id(1), live_id(2)]  # one generateText, one streamText
    run = run_app(stack.exp, setup, "errors", [ok, *failed])
    assert run.ids_outside_responses() == set(failed)
    stack.assert_counted_once([ok])


@pytest.mark.parametrize("setup", RECORDING)
def test_one_batch_of_thirty_calls_with_100_kb_prompts_is_counted_whole(
    stack: Stack, setup: str
) -> None:
    """The AI SDK records each prompt twice: 30 calls with 100 KB prompts are one export of
    about 6 MB, which must be taken whole (no OTLP exporter retries a 413)."""
    ids = stack.generations(30)
    run = run_app(stack.exp, setup, "big", ids)
    assert len(run.exports) == 1 and run.exports[0]["size"] > 5_000_000, run.exports
    stack.assert_counted_once(ids)


def test_ai_sdk_7_without_provider_metadata_shows_model_calls_without_an_id(
    stack: Stack,
) -> None:
    """AI SDK 7's OpenTelemetry integration records no provider metadata unless asked: the
    generations cannot be counted, but the model-call spans without an ID show it."""
    ids = [live_id(n) for n in range(1, 5)]
    run = run_app(stack.exp, "ai7-no-metadata", "calls", ids)
    assert run.places == {}
    assert stack.exp.value(MODEL_CALLS, vercel_team=TEAM, result="without_id") == len(ids)
    assert stack.exp.value(MODEL_CALLS, vercel_team=TEAM, result="with_id") == 0
    assert stack.exp.received("otlp", "accepted") == 0


class ChatCompletions(BaseHTTPRequestHandler):
    """The gateway's OpenAI-compatible ``/chat/completions``: each request is one generation,
    whose ID is the response's ``id`` (every chunk's, when streaming)."""

    server: GatewayStandIn

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        gen_id = self.server.ids.pop(0)
        answer = {"id": gen_id, "created": int(time.time()), "model": request["model"]}
        if request.get("stream"):
            chunks = [
                {"index": 0, "delta": {"role": "assistant", "content": "Sunny."}},
                {"index": 0, "delta": {}, "finish_reason": "stop"},
            ]
            events = [{**answer, "object": "chat.completion.chunk", "choices": [c]} for c in chunks]
            body = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
            self.reply("text/event-stream", f"{body}data: [DONE]\n\n".encode())
        else:
            message = {"role": "assistant", "content": "Sunny."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
            completion = {**answer, "object": "chat.completion", "choices": [choice]}
            self.reply("application/json", json.dumps({**completion, "usage": usage}).encode())

    def reply(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test's output is the assertions."""


class GatewayStandIn(ThreadingHTTPServer):
    """Answers with the given generation IDs, one per request, in order."""

    def __init__(self, ids: Sequence[str]) -> None:
        super().__init__(("127.0.0.1", 0), ChatCompletions)  # a free port, race-free
        self.ids = list(ids)
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def gateway_stand_in(stack: Stack) -> Iterator[GatewayStandIn]:
    server = GatewayStandIn(stack.generations(4))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_openai_python_sdk_instrumented_and_deflated_is_counted_once(
    stack: Stack, gateway_stand_in: GatewayStandIn
) -> None:
    """The Python ``openai`` SDK with OpenTelemetry's OpenAI instrumentation records each chat
    completion's ``id`` as ``gen_ai.response.id``; the Python OTLP exporter deflates."""
    ids = list(gateway_stand_in.ids)
    recorder = Recorder(
        OTLPSpanExporter(
            endpoint=f"{stack.exp.url}{routes.TRACES}", compression=Compression.Deflate, timeout=30
        )
    )
    tracer_provider = app_tracer_provider(BatchSpanProcessor(recorder))
    instrumentor = OpenAIInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        client = OpenAI(api_key="not-needed", base_url=gateway_stand_in.url, max_retries=0)
        messages: list[Any] = [{"role": "user", "content": "Weather?"}]
        for _ in range(2):
            client.chat.completions.create(model="openai/gpt-5-mini", messages=messages)
            stream = client.chat.completions.create(
                model="openai/gpt-5-mini", messages=messages, stream=True
            )
            for _chunk in stream:
                pass
    finally:
        instrumentor.uninstrument()
    tracer_provider.shutdown()
    assert recorder.results == [(len(ids), SpanExportResult.SUCCESS)]
    assert gateway_stand_in.ids == []
    stack.assert_counted_once(ids)
