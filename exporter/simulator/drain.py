"""The simulated gateway's trace drain: the trace AI Gateway makes of every request, sent
signed to an OTLP/HTTP endpoint as a Vercel trace drain sends it.

One trace per request (AI Gateway's Trace Drains page): a root span ``<operation> <model>``
(kind server) with the generation ID, cost, tokens and timings; a
``vercel.ai_gateway.model_attempt <model>`` span per model tried when the request fell back;
a ``<model> (<provider>)`` client span per provider call. A failed request's root has an
error status and ``error.type``, and no record. Values equal the record's: the root's cost is
``str(total_cost)``, its duration is ``generation_time`` to the nanosecond, its time to first
chunk ``latency / 1000``, so what the spans say and what a lookup says can be compared exactly.

A delivery is protobuf, or JSON as Vercel's reference spells it (hex IDs, ``"kind":
"server"``), optionally gzipped, with ``x-vercel-signature``: the hex HMAC-SHA1 of the exact
bytes sent. ``DrainSender`` batches the simulator's requests, samples them, posts each
delivery until it is answered 2xx (as an OTLP client retries), and can send one again.
"""

from __future__ import annotations

import asyncio
import base64
import gzip as gzip_module
import hashlib
import hmac
import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from exporter.simulator.world import SimAttempt, SimFailure, SimGeneration

log = logging.getLogger(__name__)

Format = Literal["json", "protobuf"]
Request = SimGeneration | SimFailure
RESOURCE = {"service.name": "ai-gateway", "service.namespace": "vercel"}
SCOPE = "vercel.ai_gateway"
NS_PER_MS = 1_000_000
MAX_BACKLOG = 10_000  # requests kept while the endpoint does not answer; older ones dropped
# What the gateway's provider slugs are called in OpenTelemetry's gen_ai.provider.name.
OTEL_PROVIDERS = {"bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai", "azure": "azure.ai.openai"}
_KINDS = {Span.SPAN_KIND_SERVER: "server", Span.SPAN_KIND_CLIENT: "client"}


def any_value(raw: object) -> AnyValue:
    """An attribute value as OTLP holds it: a string, bool, int, double or a list of them."""
    if isinstance(raw, bool):
        return AnyValue(bool_value=raw)
    if isinstance(raw, int):
        return AnyValue(int_value=raw)
    if isinstance(raw, float):
        return AnyValue(double_value=raw)
    if isinstance(raw, (list, tuple)):
        out = AnyValue()
        out.array_value.values.extend(any_value(item) for item in raw)
        return out
    return AnyValue(string_value=str(raw))


def _span(
    name: str,
    kind: Span.SpanKind.ValueType,
    trace_id: bytes,
    parent: bytes,
    start: int,
    end: int,
    attributes: dict[str, object],
    rng: random.Random,
) -> Span:
    span = Span(
        name=name,
        kind=kind,
        trace_id=trace_id,
        span_id=rng.randbytes(8),
        parent_span_id=parent,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    span.attributes.extend(
        KeyValue(key=key, value=any_value(value))
        for key, value in attributes.items()
        if value is not None
    )
    return span


def _root_attributes(gen: SimGeneration) -> dict[str, object]:
    return {
        "gen_ai.operation.name": gen.operation,
        "gen_ai.provider.name": OTEL_PROVIDERS.get(gen.provider_name, gen.provider_name),
        "gen_ai.request.model": gen.fallbacks[0] if gen.fallbacks else gen.model,
        "gen_ai.response.model": gen.model,
        "gen_ai.response.finish_reasons": [gen.finish_reason],
        "gen_ai.request.stream": gen.streamed,
        "gen_ai.response.time_to_first_chunk": gen.latency_ms / 1000 if gen.streamed else None,
        "gen_ai.usage.input_tokens": gen.tokens_prompt,
        "gen_ai.usage.output_tokens": gen.tokens_completion,
        "gen_ai.usage.reasoning.output_tokens": gen.tokens_reasoning or None,
        "gen_ai.usage.cache_read.input_tokens": gen.tokens_cached or None,
        "gen_ai.usage.cache_creation.input_tokens": gen.tokens_cache_creation or None,
        "http.response.status_code": 200,
        "vercel.ai_gateway.generation.id": gen.id,
        "vercel.ai_gateway.provider": gen.provider_name,
        "vercel.ai_gateway.cost.total": str(gen.total_cost),
        "vercel.ai_gateway.cost.currency": "USD",
        "vercel.ai_gateway.cost.market": str(gen.market_cost),
        "vercel.ai_gateway.cost.market_currency": "USD",
        "vercel.ai_gateway.credential.type": "byok" if gen.is_byok else "system",
        "vercel.ai_gateway.api_key.name": gen.api_key_name,
        "vercel.ai_gateway.api_format": "ai-sdk",
        "vercel.ai_gateway.user.id": gen.user,
        "vercel.ai_gateway.tags": list(gen.tags) or None,
        "vercel.ai_gateway.zdr.requested": gen.zero_data_retention,
        "vercel.ai_gateway.environment": "production",
    }


def _failure_attributes(failure: SimFailure) -> dict[str, object]:
    return {
        "gen_ai.operation.name": failure.operation,
        "gen_ai.provider.name": OTEL_PROVIDERS.get(failure.provider, failure.provider),
        "gen_ai.request.model": failure.model,
        "http.response.status_code": failure.status,
        "error.type": failure.error_type,
        "vercel.ai_gateway.generation.id": failure.id,
        "vercel.ai_gateway.provider": failure.provider,
        "vercel.ai_gateway.credential.type": "system",
        "vercel.ai_gateway.environment": "production",
    }


def _attempt_attributes(attempt: SimAttempt, number: int, total: int) -> dict[str, object]:
    return {
        "gen_ai.provider.name": attempt.provider,
        "gen_ai.request.model": attempt.model,
        "http.response.status_code": attempt.status,
        "error.type": None if attempt.outcome in ("success", "timeout") else attempt.outcome,
        "vercel.ai_gateway.attempt.number": number,
        "vercel.ai_gateway.attempt.total_in_request": total,
        "vercel.ai_gateway.attempt.is_final": number == total,
        "vercel.ai_gateway.attempt.success": attempt.outcome == "success",
        "vercel.ai_gateway.attempt.provider_timeout": attempt.outcome == "timeout",
    }


def trace(request: Request, rng: random.Random) -> list[Span]:
    """The spans of one request, the root first."""
    trace_id = rng.randbytes(16)
    start = int(request.created_at * 1e9)
    if isinstance(request, SimGeneration):
        took = request.generation_time_ms * NS_PER_MS
        attributes = _root_attributes(request)
        name = f"{request.operation} {request.model}"
        models = [*request.fallbacks, request.model]
    else:
        took = request.duration_ms * NS_PER_MS
        attributes = _failure_attributes(request)
        name = f"{request.operation} {request.model}"
        models = [request.model]
    root = _span(name, Span.SPAN_KIND_SERVER, trace_id, b"", start, start + took, attributes, rng)
    if isinstance(request, SimFailure):
        root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=request.error_type))
    spans = [root]
    routing = _span(
        "vercel.ai_gateway.routing",
        Span.SPAN_KIND_INTERNAL,
        trace_id,
        root.span_id,
        start,
        start + NS_PER_MS,
        {"vercel.ai_gateway.routing.custom_provider_order": False},
        rng,
    )
    spans.append(routing)
    parents = {}
    if len(models) > 1:  # fallback models: one span per model tried
        for index, model in enumerate(models):
            attempt = _span(
                f"vercel.ai_gateway.model_attempt {model}",
                Span.SPAN_KIND_INTERNAL,
                trace_id,
                root.span_id,
                start,
                start + took,
                {
                    "vercel.ai_gateway.model_attempt.index": index,
                    "vercel.ai_gateway.model_attempt.total": len(models),
                    "vercel.ai_gateway.model_attempt.is_last": index == len(models) - 1,
                    "vercel.ai_gateway.model_attempt.success": index == len(models) - 1,
                },
                rng,
            )
            parents[model] = attempt.span_id
            spans.append(attempt)
    calls = request.attempts
    for number, call in enumerate(calls, start=1):
        spans.append(
            _span(
                f"{call.model} ({call.provider})",
                Span.SPAN_KIND_CLIENT,
                trace_id,
                parents.get(call.model, root.span_id),
                start,
                start + took,
                _attempt_attributes(call, number, len(calls)),
                rng,
            )
        )
    return spans


def sign(body: bytes, secret: str) -> str:
    """``x-vercel-signature``: the hex HMAC-SHA1 of the exact body, keyed with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _vercel_json(message: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as Vercel's Trace Drains Reference shows it: hex trace and span IDs, and a
    span's kind as a short name ("server")."""
    data: dict[str, Any] = json_format.MessageToDict(message)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
                kind = Span.SpanKind.Value(span.get("kind", "SPAN_KIND_UNSPECIFIED"))
                span["kind"] = _KINDS.get(kind, "internal")
    return json.dumps(data, separators=(",", ":")).encode()


def delivery(
    requests: Sequence[Request],
    secret: str,
    fmt: Format = "json",
    compress: bool = False,
    rng: random.Random | None = None,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of one delivery holding the traces of ``requests``."""
    rng = rng or random.Random()  # noqa: S311 - span IDs in a simulation
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(
        KeyValue(key=key, value=any_value(value)) for key, value in RESOURCE.items()
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = SCOPE
    for request in requests:
        scope.spans.extend(trace(request, rng))
    message = ExportTraceServiceRequest(resource_spans=[resource_spans])
    if fmt == "protobuf":
        body, media = message.SerializeToString(), "application/x-protobuf"
    else:
        body, media = _vercel_json(message), "application/json"
    headers = {"Content-Type": media, "User-Agent": "vercel-drains (simulated)"}
    if compress:
        body = gzip_module.compress(body)
        headers["Content-Encoding"] = "gzip"
    headers["x-vercel-signature"] = sign(body, secret)
    return body, headers


@dataclass
class DrainCounts:
    """What a sender did, for the truth."""

    deliveries: int = 0
    traces: int = 0
    bytes: int = 0
    failed_posts: int = 0
    sampled_out: int = 0
    redelivered: int = 0
    dropped: int = 0
    last_status: int | None = None

    def truth(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class DrainSender:
    """Sends the requests it is given to ``url`` as a trace drain does: every ``interval``
    seconds at most ``batch`` traces per delivery, a ``sample_rate`` share of them, each
    delivery posted until answered 2xx."""

    url: str
    secret: str
    fmt: Format = "json"
    compress: bool = False
    interval: float = 1.0
    batch: int = 100
    sample_rate: float = 1.0
    seed: int = 1
    counts: DrainCounts = field(default_factory=DrainCounts)
    _waiting: list[Request] = field(default_factory=list)
    _unsent: list[tuple[bytes, dict[str, str], int]] = field(default_factory=list)
    _last: tuple[bytes, dict[str, str]] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(f"{self.seed}:drain")  # noqa: S311 - a simulation

    def take(self, team: str, request: Request) -> None:
        """A listener of the simulator: one more request to send (all teams alike)."""
        del team
        if self._rng.random() >= self.sample_rate:
            self.counts.sampled_out += 1
            return
        self._waiting.append(request)
        if len(self._waiting) > MAX_BACKLOG:
            self._waiting.pop(0)
            self.counts.dropped += 1

    def redeliver(self) -> bool:
        """Send the last delivered body once more (an answer that was lost on its way)."""
        if self._last is None:
            return False
        self._unsent.append((*self._last, 0))
        self.counts.redelivered += 1
        return True

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush(client)

    async def flush(self, client: httpx.AsyncClient) -> None:
        """Make deliveries of what waits, and post every one not yet answered 2xx."""
        while self._waiting:
            batch, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            body, headers = delivery(batch, self.secret, self.fmt, self.compress, self._rng)
            self._unsent.append((body, headers, len(batch)))
        still: list[tuple[bytes, dict[str, str], int]] = []
        for body, headers, traces in self._unsent:
            try:
                response = await client.post(self.url, content=body, headers=headers)
                self.counts.last_status = response.status_code
                answered = response.is_success
            except httpx.HTTPError as exc:
                log.debug("drain delivery failed", extra={"error": str(exc)})
                answered = False
            if answered:
                self.counts.deliveries += 1
                self.counts.traces += traces
                self.counts.bytes += len(body)
                self._last = (body, headers)
            else:
                self.counts.failed_posts += 1
                still.append((body, headers, traces))
        self._unsent = still
