"""Spans to generation IDs: what ``POST /v1/traces`` takes from the traces it is sent.

The AI SDK records a span per model call (``ai.generateText.doGenerate``, ``ai.streamText
.doStream`` …) once telemetry is on; its ``ai.response.providerMetadata`` holds the gateway's
``generationId`` (embedding spans record none, so embeddings still need their IDs pushed).
Every span of a request is read for the generation IDs its response carries (never its
prompt or its errors: see ``generation_ids``), and the IDs go through the same durable,
exactly-once intake as ``POST /generations``: an ID seen in a trace and also pushed or logged
is counted once.

AI Gateway's own spans (its trace drain) are read apart: from a trusted sender (a verified
drain signature, or the ingest token with ``otlp.trust_span_values``) their values are
observed at once (exporter/generations/drain.py); from anyone else a root span gives at most
its ID, looked up as any other. The HTTP side (content types, encodings, signatures, answers)
is exporter/web/otlp.py.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config import OtlpConfig
from exporter.gateway.models import ANY_CASE_ID_PATTERN, canonical_generation_id
from exporter.generations.attribution import Attribution
from exporter.generations.drain import (
    DrainBatch,
    DrainCounts,
    DrainReader,
    gateway_root_id,
    is_gateway,
)
from exporter.generations.intake import Intake, IntakeError
from exporter.generations.model_calls import (
    GATEWAY_KEYS,
    OPERATION_KEY,
    ModelCallSpans,
    call_kind,
    model_call,
)
from exporter.generations.observations import Observer
from exporter.generations.operations import AddIds, RecordDelivery, Transaction
from exporter.metrics import GENERATION_TRACE_SPANS, GENERATION_TRACE_SPANS_REJECTED

INTAKE_PATH = "otlp"  # the intake label of the IDs that arrive here
# The literal "gen_" comes first so the regex engine can jump to it (a pattern that opens with
# the lookbehind is tried at every position: three times slower on a span's JSON metadata).
ID_ANYWHERE = re.compile(
    rf"gen_(?<![0-9A-Za-z_]gen_){ANY_CASE_ID_PATTERN.removeprefix('gen_')}(?![0-9A-Za-z_])"
)
NESTED = ("array_value", "kvlist_value")
# The attributes of a span that hold its own call's response (generation_ids).
RESPONSE_PLACES = frozenset(
    (
        "ai.response.providerMetadata",
        "ai.response.id",
        "gen_ai.response.id",
        "vercel.ai_gateway.generation.id",
    )
)
OFF_LOOP_SPANS = 500  # spans in a request from which it is read in a thread
MAX_VALUE_DEPTH = 8  # nested arrays and maps in an attribute value
T = TypeVar("T")


def _strings(value: AnyValue, depth: int = 0) -> Iterator[str]:
    """Every string inside an attribute value (arrays and maps too)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        yield value.string_value
    elif depth < MAX_VALUE_DEPTH and kind == "array_value":
        for item in value.array_value.values:
            yield from _strings(item, depth + 1)
    elif depth < MAX_VALUE_DEPTH and kind == "kvlist_value":
        for pair in value.kvlist_value.values:
            yield from _strings(pair.value, depth + 1)


def _attribute(attributes: Sequence[KeyValue], key: str) -> str | None:
    for attribute in attributes:
        if attribute.key == key and attribute.value.WhichOneof("value") == "string_value":
            return attribute.value.string_value
    return None


def generation_ids(span: Span) -> list[str]:
    """The generation IDs a span's response carries, canonical, in order of appearance.

    Only the places that hold the answer to this span's own call: the gateway's
    ``generationId`` inside ``ai.response.providerMetadata`` (a JSON string, the AI SDK's),
    ``ai.response.id`` and ``gen_ai.response.id`` when they are generation IDs (an
    OpenAI-compatible client's), and ``vercel.ai_gateway.generation.id``. Never the prompt
    (``ai.prompt*``, ``gen_ai.input.messages``: a chat re-sends its earlier calls' IDs there)
    nor an exception (the AI SDK ends a gateway error's message with the ID of a generation
    that has no record).
    """
    return read_response(span)[0]


def read_response(span: Span) -> tuple[list[str], str | None]:
    """``generation_ids`` and ``model_call`` of a span, in one pass over its attributes (each
    a Python object made by the protobuf bindings: a second pass cost a model-call span a
    third more)."""
    found: dict[str, None] = {}
    operation = None
    gateway = False
    for attribute in span.attributes:
        key = attribute.key
        if key in RESPONSE_PLACES:
            text = attribute.value.string_value
            if "gen_" in text:
                _add(ID_ANYWHERE.findall(text), found)
        elif key in GATEWAY_KEYS:
            gateway = gateway or "gateway" in attribute.value.string_value
        elif key == OPERATION_KEY:
            operation = attribute.value.string_value
    return list(found), call_kind(span.name, operation, gateway)


def every_id(span: Span) -> list[str]:
    """Every generation ID in any string of a span's attributes and events: the opt-in scan
    for senders whose attributes are unknown (``otlp.scan_all_attributes``), which also reads
    prompts and errors, and so IDs that were billed before or never."""
    found: dict[str, None] = {}
    _scan(span.attributes, found)
    for event in span.events:
        _scan(event.attributes, found)
    return list(found)


def _add(matches: Iterable[str], found: dict[str, None]) -> None:
    for match in matches:
        if (gen_id := canonical_generation_id(match)) is not None:
            found[gen_id] = None


def _none(span: Span) -> list[str]:
    """``generation_ids`` of a span known to hold no ``gen_``."""
    return []


def _scan(attributes: Sequence[KeyValue], found: dict[str, None]) -> None:
    """Add the IDs in ``attributes`` to ``found``; plain strings, by far the most common
    values, without the generator ``_strings`` needs for arrays and maps."""
    for attribute in attributes:
        value = attribute.value
        text = value.string_value  # "" unless the value is a string: one call, not two
        if text:
            texts: Iterable[str] = (text,)
        elif value.WhichOneof("value") in NESTED:
            texts = _strings(value)
        else:
            continue
        for text in texts:
            if "gen_" in text:
                _add(ID_ANYWHERE.findall(text), found)


@dataclass
class Batch:
    """What one request holds, sorted by team and attribution values."""

    # (team, stored attribution values) -> IDs, in order
    ids: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)
    with_id: dict[str, int] = field(default_factory=dict)
    without_id: dict[str, int] = field(default_factory=dict)
    unknown_teams: set[str] = field(default_factory=set)
    refused: int = 0
    # (team, with_id|without_id) of the spans that record a model call through the gateway,
    # and the kind of each team's last one without an ID (exporter/generations/model_calls.py)
    model_calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    model_call_kinds: dict[str, str] = field(default_factory=dict)

    def add(self, team: str, attributes: str, span_ids: list[str]) -> None:
        counts = self.with_id if span_ids else self.without_id
        counts[team] = counts.get(team, 0) + 1
        if span_ids:
            self.ids.setdefault((team, attributes), {}).update(dict.fromkeys(span_ids))

    def add_all(self, team: str, found: list[list[str]]) -> None:
        """``add`` for each of many spans of one team without attribution values, in a few
        C calls instead of a handful of Python steps per span."""
        carrying = [span_ids for span_ids in found if span_ids]
        for counts, count in (
            (self.with_id, len(carrying)),
            (self.without_id, len(found) - len(carrying)),
        ):
            if count:
                counts[team] = counts.get(team, 0) + count
        if carrying:
            self.ids.setdefault((team, ""), {}).update(dict.fromkeys(chain.from_iterable(carrying)))

    def add_model_call(self, team: str, kind: str | None, span_ids: list[str]) -> None:
        """Count a span that records a model call through the gateway (``kind``: model_call's
        answer, None for any other span)."""
        if kind is None:
            return
        self.model_calls[(team, "with_id" if span_ids else "without_id")] += 1
        if not span_ids:
            self.model_call_kinds[team] = kind


class TeamMapping:
    """Which team a span belongs to: its team attribute (span first, then resource), mapped
    or naming a team; else the request's team; unknown values are refused, not guessed."""

    def __init__(self, config: OtlpConfig, teams: Sequence[str]) -> None:
        self._attribute = config.team_attribute
        self._map = config.mapping()
        self._teams = frozenset(teams)
        for value, team in self._map.items():
            if team not in self._teams:
                raise ValueError(f"otlp.team_map {value}={team}: unknown team {team!r}")

    @property
    def per_span(self) -> bool:
        """Whether spans of one request may belong to different teams."""
        return self._attribute is not None

    def team(self, span: Span, resource: Sequence[KeyValue], default: str) -> str | None:
        if self._attribute is None:
            return default
        value = _attribute(span.attributes, self._attribute)
        if value is None:
            value = _attribute(resource, self._attribute)
        if value is None:
            return default
        team = self._map.get(value, value)
        return team if team in self._teams else None


@dataclass(frozen=True)
class Sender:
    """Who sent a trace request, as the edge established it (exporter/web/otlp.py)."""

    team: str | None = None  # the team a drain signature proved; None: by span, else query
    trusted: bool = False  # AI Gateway spans' values may set costs (no lookup)
    digest: bytes | None = None  # the body's identity: a delivery sent again counts nothing
    size: int = 0  # bytes received, as sent


@dataclass(frozen=True)
class Accepted:
    """What the answer to a trace request reports: spans refused, and why."""

    refused: int = 0
    message: str = ""


class OtlpIntake(Collector):
    """The domain side of ``/v1/traces``: a decoded request and its sender in, IDs and
    observations stored durably out; and the span counts.

    The span and delivery counts are this process's own (they restart at 0 with it, as
    rate() expects); the IDs and observations the spans carry are counted by the store,
    exactly once.
    """

    def __init__(
        self,
        intake: Intake,
        mapping: TeamMapping,
        config: OtlpConfig,
        teams: Sequence[str],
        observer: Observer,
        attribution: Attribution | None = None,
    ) -> None:
        self._intake = intake
        self._mapping = mapping
        self._config = config
        self._observer = observer
        self._attribution = attribution
        self._first_team = teams[0]
        self._drain = DrainReader(observer, attribution)
        self.drain_counts = DrainCounts(teams)
        self._spans: Counter[tuple[str, str]] = Counter(
            {(team, result): 0 for team in teams for result in ("with_id", "without_id")}
        )
        self._rejected: Counter[str] = Counter({"unknown_team": 0})
        self.model_calls = ModelCallSpans(teams)

    def collect(self) -> Iterable[Metric]:
        spans = GENERATION_TRACE_SPANS.counter()
        for (team, result), count in sorted(self._spans.items()):
            spans.add_metric([team, result], count)
        rejected = GENERATION_TRACE_SPANS_REJECTED.counter()
        for reason, count in sorted(self._rejected.items()):
            rejected.add_metric([reason], count)
        return [spans, rejected, *self.model_calls.collect(), *self.drain_counts.collect()]

    async def accept(
        self, message: ExportTraceServiceRequest, sender: Sender, team: str | None, spans: int
    ) -> Accepted:
        """Store what ``message`` holds; ``team``: the request's own (its query), if any;
        ``spans``: how many it holds (exporter/web/otlp.py measured and bounded it).

        Raises IntakeError (503 when a queue is full or the state cannot be written), with
        nothing stored.
        """
        default = sender.team or (self._first_team if team is None else team)
        resources: Sequence[ResourceSpans] = message.resource_spans
        gateway: list[ResourceSpans] = []
        if sender.trusted:
            gateway = [r for r in resources if is_gateway(r.resource.attributes)]
            resources = [r for r in resources if not is_gateway(r.resource.attributes)]
        fixed = sender.team is not None
        if not sender.trusted:
            batch = await _off_loop(spans, self.read, resources, default, fixed)
            await self.store(batch)
            self.count(batch)
            return self._accepted(batch.refused, batch.unknown_teams)
        batch, drain = await _off_loop(
            spans, self._read_trusted, resources, gateway, default, fixed
        )
        await self._record(batch, drain, sender, default)
        return self._accepted(batch.refused + drain.refused, batch.unknown_teams)

    def _accepted(self, refused: int, unknown_teams: set[str]) -> Accepted:
        if not refused:
            return Accepted()
        values = sorted(repr(value[:64]) for value in unknown_teams)[:10]
        return Accepted(
            refused,
            f"{refused} spans name no configured team in {self._config.team_attribute}: "
            + ", ".join(values),
        )

    def _read_trusted(
        self,
        resources: Sequence[ResourceSpans],
        gateway: Sequence[ResourceSpans],
        default: str,
        fixed: bool,
    ) -> tuple[Batch, DrainBatch]:
        batch = self.read(resources, default, fixed)
        return batch, self._drain.read(gateway, self._team_of(default, fixed))

    def _team_of(
        self, default: str, fixed: bool
    ) -> Callable[[Span, Sequence[KeyValue]], str | None]:
        if fixed or not self._mapping.per_span:
            return lambda span, resource: default
        return lambda span, resource: self._mapping.team(span, resource, default)

    def read(
        self, resources: Iterable[ResourceSpans], default_team: str, fixed: bool = False
    ) -> Batch:
        """Sort every span by team, with the IDs it carries (``fixed``: every span is the
        default team's, as a drain signature says)."""
        batch = Batch()
        per_span = self._mapping.per_span and not fixed
        everything = self._config.scan_all_attributes
        resources = list(resources)
        lineage = Lineage(resources) if self._attribution is not None else None
        for resource_spans in resources:
            resource = resource_spans.resource.attributes
            gateway = is_gateway(resource)
            for scope_spans in resource_spans.scope_spans:
                serialized = scope_spans.SerializeToString()
                scan = _scanner(serialized, gateway, everything)
                # The same shortcut for model calls: one through the gateway names it.
                read = _call_reader(scan) if not gateway and b"gateway" in serialized else None
                if not per_span and lineage is None:
                    if read is None:
                        batch.add_all(default_team, [scan(span) for span in scope_spans.spans])
                        continue
                    found = []
                    for span in scope_spans.spans:
                        span_ids, kind = read(span)
                        found.append(span_ids)
                        batch.add_model_call(default_team, kind, span_ids)
                    batch.add_all(default_team, found)
                    continue
                for span in scope_spans.spans:
                    team = (
                        self._mapping.team(span, resource, default_team)
                        if per_span
                        else default_team
                    )
                    if team is None:
                        value = _attribute(span.attributes, self._config.team_attribute or "")
                        batch.unknown_teams.add(value or "")
                        batch.refused += 1
                        continue
                    span_ids, kind = read(span) if read else (scan(span), None)
                    attributes = (
                        self._attribution.from_span(span, resource, lineage.ancestors(span))
                        if span_ids and self._attribution and lineage
                        else ""
                    )
                    batch.add(team, attributes, span_ids)
                    batch.add_model_call(team, kind, span_ids)
        return batch

    async def store(self, batch: Batch) -> None:
        """Every team's IDs, durably, in one commit (a failure is retryable: 503 with
        Retry-After); every team's queue is checked for room first."""
        if not batch.ids:
            return
        count = sum(len(ids) for ids in batch.ids.values())
        if count > self._intake.max_ids:  # as on POST /generations: no request floods the queue
            raise IntakeError(
                413, f"too many generation IDs in one request: {count} > {self._intake.max_ids}"
            )
        ops = self._queue_ops(batch.ids)
        await self._intake.commit(_Together(ops), _wanted(ops), _arrivals(ops))

    async def _record(self, batch: Batch, drain: DrainBatch, sender: Sender, team: str) -> None:
        """A trusted delivery, whole, in one transaction (exporter/generations/operations.py's
        RecordDelivery), then its counts."""
        queue = self._queue_ops(batch.ids) + self._queue_ops(drain.lookups, source="drain")
        roots, refused = [], []
        for root in drain.roots:
            outside = self._intake.outside_window(root.id)
            if outside is None:
                roots.append(root)
            else:
                refused.append((root.team, outside))
        op = RecordDelivery(
            sender.digest, roots, self._observer.deltas, drain.orphans, queue, refused
        )
        drained = Counter(root.team for root in drain.roots)
        arrivals = _arrivals(queue) + [(team, "drain", n) for team, n in drained.items()]
        new = await self._intake.commit(op, _wanted(queue), arrivals)
        counts = self.drain_counts
        counts.bytes[team] += sender.size
        if new is None:
            counts.deliveries[(team, "replayed")] += 1
            return
        counts.deliveries[(team, "accepted")] += 1
        counts.events.update(drain.events)
        for root, fresh in zip(roots, new, strict=True):
            result = "duplicate" if not fresh else "observed" if root.generation else "failed"
            counts.events[(root.team, result)] += 1
        self.count(batch)

    def _queue_ops(
        self, ids: dict[tuple[str, str], dict[str, None]], source: str = INTAKE_PATH
    ) -> list[AddIds]:
        return [
            self._intake.queue_op(team, list(found), source, attributes=attributes)
            for (team, attributes), found in ids.items()
        ]

    def count(self, batch: Batch) -> None:
        for result, counts in (("with_id", batch.with_id), ("without_id", batch.without_id)):
            for team, count in counts.items():
                self._spans[(team, result)] += count
        self._rejected["unknown_team"] += batch.refused
        if batch.model_calls:
            self.model_calls.merge(batch.model_calls, batch.model_call_kinds)


async def _off_loop(spans: int, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)``, in a thread when the request is large: reading thousands of spans
    takes a good part of a second, which scrapes and other requests must not wait for."""
    if spans < OFF_LOOP_SPANS:
        return work(*args)
    return await asyncio.to_thread(work, *args)


@dataclass
class _Together:
    """Several queueing operations committed as one: a request is stored whole or not."""

    ops: Sequence[AddIds]

    def apply(self, tx: Transaction) -> None:
        for op in self.ops:
            op.apply(tx)


def _wanted(ops: Sequence[AddIds]) -> Counter[tuple[str, str]]:
    """How many IDs each (team, intake path) would queue."""
    wanted: Counter[tuple[str, str]] = Counter()
    for op in ops:
        wanted[(op.team, op.source)] += len(op.ids)
    return wanted


def _arrivals(ops: Sequence[AddIds]) -> list[tuple[str, str, int]]:
    return [(op.team, op.source, len(op.ids) + len(op.refused)) for op in ops]


class Lineage:
    """The spans of one request by ID, to walk a span's ancestors: AI SDK 7 records the
    function and agent names on the outer and step spans, not on the model call whose
    response carries the ID."""

    MAX_DEPTH = 32  # a malformed trace may loop

    def __init__(self, resources: Iterable[ResourceSpans]) -> None:
        self._spans = {
            (span.trace_id, span.span_id): span
            for resource_spans in resources
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        }

    def ancestors(self, span: Span) -> list[Span]:
        """Parent first, up to the root, within this request."""
        out: list[Span] = []
        while span.parent_span_id and len(out) < self.MAX_DEPTH:
            parent = self._spans.get((span.trace_id, span.parent_span_id))
            if parent is None:
                break
            out.append(parent)
            span = parent
        return out


def _scanner(serialized: bytes, gateway: bool, everything: bool) -> Callable[[Span], list[str]]:
    """How to read a scope's spans: AI Gateway's by their root's generation ID alone; others
    by their response's places, or every string when asked. Every string of a scope is in its
    serialized bytes as UTF-8, so a scope whose bytes hold no "gen_" (an HTTP or database
    instrumentation's) holds no ID, and costs one C call instead of a walk over its spans."""
    if b"gen_" not in serialized:
        return _none
    if gateway:
        return _gateway_ids
    return every_id if everything else generation_ids


def _call_reader(
    scan: Callable[[Span], list[str]],
) -> Callable[[Span], tuple[list[str], str | None]]:
    """A span's IDs as ``scan`` reads them and whether it records a model call through the
    gateway: in one pass over its attributes when the IDs are read from its response's."""
    if scan is generation_ids:
        return read_response
    return lambda span: (scan(span), model_call(span))


def _gateway_ids(span: Span) -> list[str]:
    gen_id = gateway_root_id(span)
    return [] if gen_id is None else [gen_id]
