"""Hand-written AI Gateway trace drain deliveries, as the docs describe them: one root span per
request with its attributes, provider-attempt and model-attempt children, signed with the
drain's secret. The simulator sends whole traffic (exporter/simulator/drain.py); these are the
small, exact cases a test spells out."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import os
import random
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

from exporter.assembly import Components, build
from exporter.clock import Clock, FakeClock
from exporter.config import load_config
from exporter.simulator.world import new_ulid
from exporter.teams import resolve_teams
from tests.support.otlp import as_json, attributes

SECRET = "drain-signature-secret-0123456789"
START = 1_800_000_000 * 10**9  # ns
GATEWAY = {"service.name": "ai-gateway", "service.namespace": "vercel"}


def new_id(at: float, rng: random.Random | None = None) -> str:
    """A generation ID made at ``at`` (Unix seconds): gen_ and a ULID."""
    return "gen_" + new_ulid(rng or random.Random(), int(at * 1000))


def root(
    gen_id: str | None,
    cost: Any = "0.0042",
    *,
    trace_id: bytes | None = None,
    duration_ms: int = 1500,
    operation: str = "chat",
    model: str = "anthropic/claude-sonnet-4.6",
    provider: str = "anthropic",
    failed: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Span:
    """The root span of one request; ``failed``: the error type of a failed request."""
    values: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.provider.name": provider,
        "vercel.ai_gateway.provider": provider,
        "gen_ai.request.stream": True,
        "gen_ai.response.time_to_first_chunk": 0.25,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "vercel.ai_gateway.credential.type": "system",
        "http.response.status_code": 200,
        "vercel.ai_gateway.request.id": "req_" + os.urandom(6).hex(),
    }
    if gen_id is not None:
        values["vercel.ai_gateway.generation.id"] = gen_id
    if cost is not None:
        values["vercel.ai_gateway.cost.total"] = cost
        values["vercel.ai_gateway.cost.currency"] = "USD"
    if failed is not None:
        values.update({"http.response.status_code": 502, "error.type": failed})
        for key in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
            values.pop(key)
    values.update(attrs or {})
    span = Span(
        name=f"{operation} {model}",
        kind=Span.SPAN_KIND_SERVER,
        trace_id=trace_id or os.urandom(16),
        span_id=os.urandom(8),
        start_time_unix_nano=START,
        end_time_unix_nano=START + duration_ms * 10**6,
    )
    span.attributes.extend(attributes({k: v for k, v in values.items() if v is not None}))
    if failed is not None:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=failed))
    return span


def root_of(generation: Mapping[str, Any]) -> Span:
    """The root span the gateway makes of a generation, from the simulator's truth record."""
    byok = bool(generation["is_byok"])
    attrs: dict[str, Any] = {
        "gen_ai.request.stream": bool(generation["streamed"]),
        "gen_ai.response.time_to_first_chunk": (
            generation["latency"] / 1000 if generation["streamed"] else None
        ),
        "gen_ai.response.finish_reasons": [generation["finish_reason"]],
        "gen_ai.usage.input_tokens": generation["native_tokens_prompt"],
        "gen_ai.usage.output_tokens": generation["native_tokens_completion"],
        "gen_ai.usage.reasoning.output_tokens": generation["native_tokens_reasoning"],
        "gen_ai.usage.cache_read.input_tokens": generation["native_tokens_cached"],
        "gen_ai.usage.cache_creation.input_tokens": generation["native_tokens_cache_creation"],
        "vercel.ai_gateway.credential.type": "byok" if byok else "system",
        "vercel.ai_gateway.cost.market": generation["market_cost"],
    }
    return root(
        generation["id"],
        generation["total_cost"],
        duration_ms=generation["generation_time"],
        model=generation["model"],
        provider=generation["provider_name"],
        attrs=attrs,
    )


def attempt(
    parent: Span,
    provider: str,
    *,
    model: str = "anthropic/claude-sonnet-4.6",
    error: str | None = None,
    timeout: bool = False,
) -> Span:
    """One provider call of the request ``parent`` is the root of."""
    success = error is None and not timeout
    values: dict[str, Any] = {
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "vercel.ai_gateway.attempt.success": success,
        "vercel.ai_gateway.attempt.provider_timeout": timeout,
        "http.response.status_code": 200 if success else 504 if timeout else 500,
    }
    if error is not None:
        values["error.type"] = error
    span = Span(
        name=f"{model} ({provider})",
        kind=Span.SPAN_KIND_CLIENT,
        trace_id=parent.trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent.span_id,
    )
    span.attributes.extend(attributes(values))
    return span


def model_attempt(parent: Span, model: str, index: int, success: bool) -> Span:
    span = Span(
        name=f"vercel.ai_gateway.model_attempt {model}",
        kind=Span.SPAN_KIND_INTERNAL,
        trace_id=parent.trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent.span_id,
    )
    span.attributes.extend(
        attributes(
            {
                "vercel.ai_gateway.model_attempt.index": index,
                "vercel.ai_gateway.model_attempt.success": success,
            }
        )
    )
    return span


def traces(
    spans: Sequence[Span], resource: Mapping[str, Any] = GATEWAY
) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(attributes(resource))
    resource_spans.scope_spans.add().spans.extend(spans)
    message = ExportTraceServiceRequest()
    message.resource_spans.append(resource_spans)
    return message


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def delivery(
    message: ExportTraceServiceRequest,
    fmt: str = "protobuf",
    secret: str | None = SECRET,
    compress: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a delivery as a drain sends it, signed over the bytes sent."""
    body = message.SerializeToString() if fmt == "protobuf" else as_json(message)
    headers = {
        "Content-Type": "application/x-protobuf" if fmt == "protobuf" else "application/json"
    }
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if secret is not None:
        headers["x-vercel-signature"] = sign(body, secret)
    return body, headers


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, flags: Mapping[str, Any], clock: Clock | None = None
) -> AsyncIterator[Components]:
    """An exporter in process with ``flags`` (its state under ``tmp_path``) and its state
    writer running: what an in-process drain test posts to through ``exporter.app``."""
    config = load_config(None, {}, {"state.path": str(tmp_path / "state.db"), **flags})
    teams = resolve_teams(config, {"AI_GATEWAY_API_KEY": "vck_" + "k" * 40})
    exp = build(config, teams, clock or FakeClock())
    writer = asyncio.create_task(exp.generations.writer.run())
    try:
        yield exp
    finally:
        writer.cancel()
        await exp.generations.close()
