"""AI Gateway's own traces: what a verified trace drain delivery says about each request.

The gateway makes one trace per request it serves, whatever the client, failures included: a
root span ``<operation> <model>`` (kind server) with the generation ID, cost, tokens and
timings; a ``vercel.ai_gateway.model_attempt <model>`` span per model tried when fallback models
are set; a ``<model> (<provider>)`` client span per provider call. A delivery whose signature
verified is the gateway's word, so its root spans are observed as they are, with no lookup;
only a root whose cost is missing or unusable is looked up.

Nothing here decides whether a delivery is trusted: the edge does (exporter/web/otlp.py), and
only the resource spans of trusted deliveries come here.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.gateway.models import canonical_generation_id, generation_from
from exporter.generations.attribution import Attribution
from exporter.generations.observations import UNKNOWN, LabelLimiter, Observer, operation_label
from exporter.generations.operations import DrainRoot
from exporter.generations.series import Delta, delta
from exporter.labels import safe_label
from exporter.metrics import (
    DRAIN_DELIVERIES,
    DRAIN_RECEIVED_BYTES,
    DRAIN_TRACE_EVENTS,
    MODEL_FALLBACKS,
    PROVIDER_ATTEMPTS,
    REQUESTS_FAILED,
)

SERVICE = "ai-gateway"  # the resource's service.name on every span the gateway makes
GENERATION_ID = "vercel.ai_gateway.generation.id"
MODEL_ATTEMPT = "vercel.ai_gateway.model_attempt"
MAX_ERROR_TYPES = 32  # distinct error_type and attempt outcome values before 'other'
NANOSECONDS_PER_MS = Decimal(1_000_000)
MILLISECONDS = Decimal(1000)
# The record's token fields and the root span's usage attributes that hold them.
USAGE = {
    "native_tokens_prompt": "gen_ai.usage.input_tokens",
    "native_tokens_completion": "gen_ai.usage.output_tokens",
    "native_tokens_reasoning": "gen_ai.usage.reasoning.output_tokens",
    "native_tokens_cached": "gen_ai.usage.cache_read.input_tokens",
    "native_tokens_cache_creation": "gen_ai.usage.cache_creation.input_tokens",
}
# Every attribute the functions below read (attributes_of reads no other).
READ = frozenset(
    (
        GENERATION_ID,
        f"{MODEL_ATTEMPT}.index",
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.provider.name",
        "gen_ai.request.stream",
        "gen_ai.response.finish_reasons",
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
        "http.response.status_code",
        "error.type",
        "vercel.ai_gateway.provider",
        "vercel.ai_gateway.cost.total",
        "vercel.ai_gateway.cost.market",
        "vercel.ai_gateway.credential.type",
        "vercel.ai_gateway.attempt.success",
        "vercel.ai_gateway.attempt.provider_timeout",
    )
)
NOT_IN_SPANS = ("billable_web_search_calls",)  # record fields a root span does not carry
EVENT_RESULTS = ("observed", "failed", "looked_up", "duplicate", "no_id")

Attributes = dict[str, object]
# Deltas made for one delivery, by (team, model, provider, outcome) as its spans name them.
Made = dict[tuple[str, str | None, str | None, str], Delta]
# The team of a span, or None when its team attribute names no configured team.
TeamOf = Callable[[Span, Sequence[KeyValue]], str | None]


def is_gateway(resource: Sequence[KeyValue]) -> bool:
    """Whether the spans of this resource are AI Gateway's own."""
    for attribute in resource:
        if attribute.key == "service.name":
            return attribute.value.string_value == SERVICE
    return False


def _plain(value: AnyValue) -> object:
    """An attribute value as Python: str, bool, int, float or a list of them."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind in _SCALARS:
        return getattr(value, kind)
    return None


_SCALARS = frozenset(("string_value", "bool_value", "int_value", "double_value"))


def attributes_of(span: Span) -> Attributes:
    """The attributes this module reads of a span, as Python values. A root span has about
    forty and reading them is most of what a delivery costs, so the others (the request ID,
    the currencies, the region …) are left unread, and scalars are read in line."""
    out: Attributes = {}
    for attribute in span.attributes:
        key = attribute.key  # each read of a field makes a new str: once
        if key in READ:
            value = attribute.value
            kind = value.WhichOneof("value")
            out[key] = getattr(value, kind) if kind in _SCALARS else _plain(value)
    return out


def _text(attrs: Mapping[str, object], *keys: str) -> str | None:
    """The first of ``keys`` that holds a non-empty string."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _number(value: object) -> object:
    """A double as an exact Decimal, by its shortest repr (so 0.123 s is 123 ms exactly), as
    a record's JSON number is read; anything else as it is, for the record's checks."""
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def _status_code(attrs: Mapping[str, object]) -> int | None:
    code = attrs.get("http.response.status_code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def failed(span: Span, attrs: Mapping[str, object]) -> bool:
    """A request the gateway answered with an error: by its span's status or HTTP code."""
    code = _status_code(attrs)
    return span.status.code == Status.STATUS_CODE_ERROR or (code is not None and code >= 400)


def gateway_root_id(span: Span) -> str | None:
    """The generation ID of a gateway root span that did not fail: what an unverified
    gateway span may contribute (an ID to look up; a failed request has no record)."""
    attrs = attributes_of(span)
    raw = attrs.get(GENERATION_ID)
    if not isinstance(raw, str) or failed(span, attrs):
        return None
    return canonical_generation_id(raw)


def record_fields(span: Span, attrs: Mapping[str, object]) -> dict[str, object]:
    """A root span's values under the names a ``/v1/generation`` record gives them, so both
    paths check and observe them alike (exporter/gateway/models.py)."""
    fields: dict[str, object] = {
        "total_cost": attrs.get("vercel.ai_gateway.cost.total"),
        "model": _text(attrs, "gen_ai.response.model", "gen_ai.request.model"),
        "provider_name": _text(attrs, "vercel.ai_gateway.provider", "gen_ai.provider.name"),
        "streamed": attrs.get("gen_ai.request.stream"),
    }
    # The gateway leaves out what does not apply (no reasoning, nothing cached, no output of an
    # embedding): a request that used none of a kind of token used 0 of it, as its record says.
    for name, attribute in USAGE.items():
        fields[name] = _number(attrs.get(attribute, 0))
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons:
        fields["finish_reason"] = reasons[0]
    credential = attrs.get("vercel.ai_gateway.credential.type")
    if isinstance(credential, str):
        fields["is_byok"] = credential == "byok"
        if credential == "byok":  # what the provider billed: the market price
            fields["upstream_inference_cost"] = attrs.get("vercel.ai_gateway.cost.market")
    fields["market_cost"] = attrs.get("vercel.ai_gateway.cost.market")
    ttft = _number(attrs.get("gen_ai.response.time_to_first_chunk"))
    if type(ttft) is int:  # whole seconds, sent as an integer
        ttft = Decimal(ttft)
    fields["latency"] = ttft * MILLISECONDS if isinstance(ttft, Decimal) else ttft
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start and end >= start:
        fields["generation_time"] = Decimal(end - start) / NANOSECONDS_PER_MS
    return {name: value for name, value in fields.items() if value is not None}


@dataclass
class DrainBatch:
    """What the gateway spans of one verified delivery hold, by team."""

    roots: list[DrainRoot] = field(default_factory=list)
    orphans: list[Delta] = field(default_factory=list)  # attempts counted without their root
    lookups: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (team, result)
    refused: int = 0  # root spans whose team attribute names no configured team


class DrainReader:
    """Reads the gateway spans of a verified delivery into roots, attempts and IDs to look up.

    Labels are bounded as the generation families' are (the observer's limiters), error types
    by ``MAX_ERROR_TYPES``.
    """

    def __init__(self, observer: Observer, attribution: Attribution | None) -> None:
        self._observer = observer
        self._attribution = attribution
        self._errors = LabelLimiter(MAX_ERROR_TYPES)
        self._lock = threading.Lock()  # large deliveries are read in threads

    def read(self, resources: Iterable[ResourceSpans], team_of: TeamOf) -> DrainBatch:
        batch = DrainBatch()
        made: Made = {}
        for resource_spans in resources:
            resource = resource_spans.resource.attributes
            roots: list[tuple[Span, Attributes]] = []
            children: dict[bytes, list[tuple[Span, Attributes]]] = {}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attrs = attributes_of(span)
                    if GENERATION_ID in attrs or span.kind == Span.SPAN_KIND_SERVER:
                        roots.append((span, attrs))
                    else:
                        children.setdefault(span.trace_id, []).append((span, attrs))
            for span, attrs in roots:
                team = team_of(span, resource)
                if team is None:
                    batch.refused += 1
                    continue
                trace = self._attempts(team, children.pop(span.trace_id, []), made)
                self._root(batch, team, span, attrs, resource, trace)
            for spans in children.values():  # their root came, or comes, in another delivery
                team = team_of(spans[0][0], resource)
                if team is not None:
                    batch.orphans += self._attempts(team, spans, made)
        return batch

    def _root(
        self,
        batch: DrainBatch,
        team: str,
        span: Span,
        attrs: Attributes,
        resource: Sequence[KeyValue],
        trace: list[Delta],
    ) -> None:
        raw = attrs.get(GENERATION_ID)
        gen_id = canonical_generation_id(raw) if isinstance(raw, str) else None
        is_failed = failed(span, attrs)
        if gen_id is None and is_failed:
            # A request that failed before the gateway gave it an ID: still a failure, and
            # counted once as long as its delivery is (a delivery sent again counts nothing).
            batch.events[(team, "failed")] += 1
            batch.orphans += [*self._failure(team, attrs), *trace]
            return
        if gen_id is None:
            batch.events[(team, "no_id")] += 1
            batch.orphans += trace
            return
        stored = self._attribution.from_span(span, resource) if self._attribution else ""
        if is_failed:
            failure = self._failure(team, attrs)
            batch.roots.append(DrainRoot(team, gen_id, None, failure, tuple(trace), stored))
            return
        operation = attrs.get("gen_ai.operation.name")
        gen = generation_from(
            gen_id,
            record_fields(span, attrs),
            operation if isinstance(operation, str) else None,
            NOT_IN_SPANS,
        )
        if gen.total_cost is None:  # missing or unusable: the record knows
            batch.lookups.setdefault((team, stored), {})[gen_id] = None
            batch.events[(team, "looked_up")] += 1
            batch.orphans += trace
            return
        batch.roots.append(DrainRoot(team, gen_id, gen, (), tuple(trace), stored))

    def _failure(self, team: str, attrs: Attributes) -> tuple[Delta, ...]:
        model, provider, _ = self._observer.place(
            team,
            _text(attrs, "gen_ai.response.model", "gen_ai.request.model"),
            _text(attrs, "vercel.ai_gateway.provider", "gen_ai.provider.name"),
        )
        operation = attrs.get("gen_ai.operation.name")
        failure = delta(
            REQUESTS_FAILED,
            1,
            vercel_team=team,
            model=model,
            provider=provider,
            operation=operation_label(operation if isinstance(operation, str) else None),
            error_type=self._error(attrs),
        )
        return (failure,)

    def _error(self, attrs: Attributes) -> str:
        """The error's type as the span names it, else its HTTP status code."""
        error = _text(attrs, "error.type")
        if error is None:
            code = _status_code(attrs)
            error = None if code is None else str(code)
        if not error:
            return UNKNOWN
        with self._lock:
            return self._errors.admit(safe_label(error))

    def _attempts(self, team: str, spans: list[tuple[Span, Attributes]], made: Made) -> list[Delta]:
        """The provider attempts and model fallbacks among one trace's spans."""
        out: list[Delta] = []
        for span, attrs in spans:
            if span.kind == Span.SPAN_KIND_CLIENT:
                out.append(self._provider_attempt(team, span, attrs, made))
            elif span.name.startswith(MODEL_ATTEMPT):
                index = attrs.get(f"{MODEL_ATTEMPT}.index")  # 0: the model asked for
                if isinstance(index, int) and not isinstance(index, bool) and index > 0:
                    model = (
                        _text(attrs, "gen_ai.request.model")
                        or span.name[len(MODEL_ATTEMPT) :].strip()
                    )
                    placed, _, _ = self._observer.place(team, model or None, None)
                    out.append(delta(MODEL_FALLBACKS, 1, vercel_team=team, model=placed))
        return out

    def _provider_attempt(self, team: str, span: Span, attrs: Attributes, made: Made) -> Delta:
        """One provider call's delta; the calls of a delivery repeat a few (team, model,
        provider, outcome) over and over, so each delta is made once per delivery."""
        model = _text(attrs, "gen_ai.request.model")
        provider = _text(attrs, "gen_ai.provider.name")
        named, _, rest = span.name.rpartition(" (")  # "<model> (<provider>)"
        if named and rest.endswith(")"):
            model, provider = model or named, provider or rest[:-1]
        outcome = self._outcome(span, attrs)
        seen = made.get((team, model, provider, outcome))
        if seen is not None:
            return seen
        placed_model, placed_provider, _ = self._observer.place(team, model, provider)
        made[(team, model, provider, outcome)] = attempt = delta(
            PROVIDER_ATTEMPTS,
            1,
            vercel_team=team,
            model=placed_model,
            provider=placed_provider,
            outcome=outcome,
        )
        return attempt

    def _outcome(self, span: Span, attrs: Attributes) -> str:
        success = attrs.get("vercel.ai_gateway.attempt.success")
        if success is True:
            return "success"
        if attrs.get("vercel.ai_gateway.attempt.provider_timeout") is True:
            return "timeout"
        erred = span.status.code == Status.STATUS_CODE_ERROR or "error.type" in attrs
        if success is None and not erred and (_status_code(attrs) or 200) < 400:
            return "success"
        return self._error(attrs)


class DrainCounts(Collector):
    """What trusted drain deliveries brought, per team: deliveries, trace events (what Vercel
    bills a drain for) and bytes. This process's own counts, from 0 at its start."""

    def __init__(self, teams: Sequence[str]) -> None:
        self.deliveries: Counter[tuple[str, str]] = Counter(
            {(team, result): 0 for team in teams for result in ("accepted", "replayed")}
        )
        self.events: Counter[tuple[str, str]] = Counter(
            {(team, result): 0 for team in teams for result in EVENT_RESULTS}
        )
        self.bytes: Counter[str] = Counter(dict.fromkeys(teams, 0))

    def collect(self) -> Iterable[Metric]:
        deliveries = DRAIN_DELIVERIES.counter()
        for (team, result), count in sorted(self.deliveries.items()):
            deliveries.add_metric([team, result], count)
        events = DRAIN_TRACE_EVENTS.counter()
        for (team, result), count in sorted(self.events.items()):
            events.add_metric([team, result], count)
        received = DRAIN_RECEIVED_BYTES.counter()
        for team, count in sorted(self.bytes.items()):
            received.add_metric([team], count)
        return [deliveries, events, received]

    def delivered(self) -> int:
        """Deliveries taken since the start (the landing page shows the drain once any)."""
        return sum(self.deliveries.values())
