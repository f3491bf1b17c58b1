"""OTLP trace requests shaped like the AI SDK's telemetry, built with OpenTelemetry's own
protobuf bindings, and their JSON form as OTLP/HTTP spells it (hex trace and span IDs); and
the Python SDK's own exporter, watched."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from exporter.simulator.drain import any_value

Attributes = Mapping[str, Any]


def attributes(attrs: Attributes) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(raw)) for key, raw in attrs.items()]


def span(name: str, attrs: Attributes, events: Sequence[Attributes] = ()) -> Span:
    out = Span(name=name, trace_id=os.urandom(16), span_id=os.urandom(8))
    out.attributes.extend(attributes(attrs))
    for event_attrs in events:
        event = out.events.add(name="event")
        event.attributes.extend(attributes(event_attrs))
    return out


def request(spans: Sequence[Span], resource: Attributes | None = None) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans()
    resource_spans.resource.attributes.extend(attributes(resource or {"service.name": "app"}))
    resource_spans.scope_spans.add().spans.extend(spans)
    message = ExportTraceServiceRequest()
    message.resource_spans.append(resource_spans)
    return message


def provider_metadata(gen_id: str) -> str:
    """``ai.response.providerMetadata`` as the AI SDK records it: a JSON string."""
    return json.dumps({"gateway": {"routing": {"finalProvider": "x"}, "generationId": gen_id}})


def do_generate(gen_id: str) -> Span:
    """One model call of generateText, with the gateway's metadata."""
    return span(
        "ai.generateText.doGenerate",
        {
            "ai.response.providerMetadata": provider_metadata(gen_id),
            "ai.response.id": "aitxt-3uQhNpx0f1X8",
            "gen_ai.system": "gateway",
            "gen_ai.usage.input_tokens": 12,
        },
    )


IDS = ("traceId", "spanId", "parentSpanId")


def as_json(message: ExportTraceServiceRequest) -> bytes:
    """OTLP/HTTP JSON: lowerCamelCase keys and hex (not base64) trace and span IDs."""

    def hexed(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64decode(v).hex() if k in IDS and isinstance(v, str) else hexed(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [hexed(item) for item in node]
        return node

    return json.dumps(hexed(json_format.MessageToDict(message))).encode()


class Recorder(SpanExporter):
    """The SDK's OTLP/HTTP exporter, keeping each export's size and result (a span processor
    only logs a failure, and a test must see it)."""

    def __init__(self, inner: OTLPSpanExporter) -> None:
        self.inner = inner
        self.results: list[tuple[int, SpanExportResult]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append((len(spans), result))
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def app_tracer_provider(processor: SpanProcessor) -> TracerProvider:
    """An application's tracer provider, as it is set up to export to the exporter."""
    tracer_provider = TracerProvider(
        resource=Resource.create({"service.name": "chat-app", "deployment.environment": "prod"})
    )
    tracer_provider.add_span_processor(processor)
    return tracer_provider
