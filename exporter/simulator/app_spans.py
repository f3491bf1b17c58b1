"""What an application's own AI SDK telemetry sends to ``/v1/traces`` (the AI SDK 6 shape),
for the demo: per generation an ``ai.generateText`` call and its ``doGenerate`` step, the
gateway's provider metadata on both; and now and then a call recorded without its provider
metadata (as a step whose stream fails part way is), whose spans carry no ID at all (the
exporter counts those and says what is the likely cause)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from exporter.simulator.drain import any_value

MODEL = "openai/gpt-5-mini"


def app_request(
    calls: Sequence[tuple[str, str]], without_outputs: int, now_ns: int
) -> ExportTraceServiceRequest:
    """``calls``: (generation ID, the app's function ID) each; ``without_outputs``: calls
    recorded without their response's provider metadata, so without an ID."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=any_value("demo-chat-app"))
    )
    spans = resource_spans.scope_spans.add()
    spans.scope.name = "ai"
    for gen_id, function in [*calls, *(("", "chat") for _ in range(without_outputs))]:
        trace_id = os.urandom(16)
        outer = _span("ai.generateText", trace_id, b"", now_ns, _call(gen_id, function))
        step = _span("ai.generateText.doGenerate", trace_id, outer.span_id, now_ns, _call(gen_id))
        spans.spans.extend([outer, step])
    return message


def _call(gen_id: str, function: str | None = None) -> dict[str, object]:
    attributes: dict[str, object] = {
        "ai.model.provider": "gateway",
        "ai.model.id": MODEL,
        "gen_ai.system": "gateway",
        "gen_ai.request.model": MODEL,
    }
    if function is not None:
        attributes["ai.telemetry.functionId"] = function
    if gen_id:
        metadata = {"gateway": {"routing": {"finalProvider": "openai"}, "generationId": gen_id}}
        attributes["ai.response.providerMetadata"] = json.dumps(metadata)
    return attributes


def _span(
    name: str, trace_id: bytes, parent: bytes, now_ns: int, attributes: dict[str, object]
) -> Span:
    span = Span(
        name=name,
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=now_ns - 1_500_000_000,
        end_time_unix_nano=now_ns,
    )
    span.attributes.extend(KeyValue(key=k, value=any_value(v)) for k, v in attributes.items())
    return span
