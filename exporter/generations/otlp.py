"""``POST /v1/traces``: OTLP/HTTP trace intake, so traces an application already emits count.

The AI SDK records a span per model call (``ai.generateText.doGenerate``, ``ai.streamText
.doStream`` …) once telemetry is on; its ``ai.response.providerMetadata`` holds the gateway's
``generationId`` (embedding spans record none, so embeddings still need their IDs pushed).
Every span of a request is read for every generation ID it carries, and the IDs go through
the same durable, exactly-once intake as ``POST /generations``: an ID seen in a trace and
also pushed or logged is counted once.

The protocol is OTLP/HTTP as the OpenTelemetry specification defines it: protobuf or JSON,
optionally gzipped, decoded with the project's own bindings; ``ExportTraceServiceResponse``
with ``partial_success`` for refused spans; 400 with a ``google.rpc.Status`` for what will never
be accepted; 429/503 with Retry-After when the exporter cannot take the batch now, which a
Collector retries.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from exporter.config import OtlpConfig
from exporter.gateway.models import ANY_CASE_ID_PATTERN, canonical_generation_id
from exporter.generations.attribution import Attribution
from exporter.generations.intake import Intake, IntakeError, query_param, read_body
from exporter.metrics import GENERATION_TRACE_SPANS, GENERATION_TRACE_SPANS_REJECTED

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
INTAKE_PATH = "otlp"  # the intake label of the IDs that arrive here
# The literal "gen_" comes first so the regex engine can jump to it (a pattern that opens with
# the lookbehind is tried at every position: three times slower on a span's JSON metadata).
ID_ANYWHERE = re.compile(
    rf"gen_(?<![0-9A-Za-z_]gen_){ANY_CASE_ID_PATTERN.removeprefix('gen_')}(?![0-9A-Za-z_])"
)
NESTED = ("array_value", "kvlist_value")
MAX_VALUE_DEPTH = 8  # nested arrays and maps in an attribute value


class OtlpError(Exception):
    """A request answered as a whole: its status, message and headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def decode(body: bytes, content_type: str, encoding: str, limit: int) -> ExportTraceServiceRequest:
    """The request message of a body as OTLP/HTTP sends it; OtlpError says what is wrong."""
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise OtlpError(415, f"unsupported Content-Encoding {encoding!r}: send gzip or none")
    message = ExportTraceServiceRequest()
    try:
        if content_type == PROTOBUF:
            message.ParseFromString(body)
        else:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise OtlpError(400, "not an OTLP JSON ExportTraceServiceRequest: not an object")
            json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, RecursionError) as exc:
        kind = "protobuf" if content_type == PROTOBUF else "JSON"
        raise OtlpError(400, f"not an OTLP {kind} ExportTraceServiceRequest: {exc}") from None
    return message


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress, refusing more than ``limit`` bytes out (a small bomb stays small)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise OtlpError(400, "body is not valid gzip") from None
    if len(out) > limit:
        raise OtlpError(413, f"body larger than {limit} bytes once decompressed")
    if not inflater.eof:
        raise OtlpError(400, "body is not valid gzip: it ends early")
    return out


def media_type(header: str) -> str:
    media = header.split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise OtlpError(
            415, f"unsupported content type {media or '(none)'!r}: send {PROTOBUF} or {JSON}"
        )
    return media


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
    """Every generation ID a span carries, in its canonical form, in order of appearance.

    One pass over every string of the span's attributes and events finds the gateway's own
    ``generationId`` inside ``ai.response.providerMetadata`` (a JSON string), the response IDs
    (``ai.response.id``, ``gen_ai.response.id``) when they are generation IDs, and an ID in any
    other attribute: trace forwarding's attributes are not documented, so nothing is assumed.
    """
    found: dict[str, None] = {}
    _scan(span.attributes, found)
    for event in span.events:
        _scan(event.attributes, found)
    return list(found)


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
                for match in ID_ANYWHERE.findall(text):
                    if (gen_id := canonical_generation_id(match)) is not None:
                        found[gen_id] = None


@dataclass
class Batch:
    """What one request holds, sorted by team and attribution values."""

    # (team, stored attribution values) -> IDs, in order
    ids: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)
    with_id: dict[str, int] = field(default_factory=dict)
    without_id: dict[str, int] = field(default_factory=dict)
    unknown_teams: set[str] = field(default_factory=set)
    refused: int = 0

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


class OtlpIntake(Collector):
    """The ``/v1/traces`` endpoint in front of the generation intake, and its span counts.

    The span counts are this process's own (they restart at 0 with it, as rate() expects);
    the IDs the spans carry are counted by the store, exactly once.
    """

    def __init__(
        self,
        intake: Intake,
        mapping: TeamMapping,
        config: OtlpConfig,
        teams: Sequence[str],
        attribution: Attribution | None = None,
    ) -> None:
        self._intake = intake
        self._mapping = mapping
        self._config = config
        self._attribution = attribution
        self._first_team = teams[0]
        self._spans: Counter[tuple[str, str]] = Counter(
            {(team, result): 0 for team in teams for result in ("with_id", "without_id")}
        )
        self._rejected: Counter[str] = Counter({"unknown_team": 0})

    def collect(self) -> Iterable[Metric]:
        spans = GENERATION_TRACE_SPANS.counter()
        for (team, result), count in sorted(self._spans.items()):
            spans.add_metric([team, result], count)
        rejected = GENERATION_TRACE_SPANS_REJECTED.counter()
        for reason, count in sorted(self._rejected.items()):
            rejected.add_metric([reason], count)
        return [spans, rejected]

    def read(self, request: ExportTraceServiceRequest, default_team: str) -> Batch:
        """Sort every span of a request by team, with the IDs it carries."""
        batch = Batch()
        spans = 0
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource.attributes
            for scope_spans in resource_spans.scope_spans:
                spans += len(scope_spans.spans)
                if spans > self._config.max_spans:
                    raise OtlpError(413, f"more than {self._config.max_spans} spans in one request")
                # Every string of a scope is in its serialized bytes as UTF-8, so a scope whose
                # bytes hold no "gen_" (an HTTP or database instrumentation's) holds no ID, and
                # costs one C call instead of a walk over every attribute of every span.
                scan = generation_ids if b"gen_" in scope_spans.SerializeToString() else _none
                if not self._mapping.per_span and self._attribution is None:
                    batch.add_all(default_team, [scan(span) for span in scope_spans.spans])
                    continue
                for span in scope_spans.spans:
                    team = self._mapping.team(span, resource, default_team)
                    if team is None:
                        value = _attribute(span.attributes, self._config.team_attribute or "")
                        batch.unknown_teams.add(value or "")
                        batch.refused += 1
                        continue
                    span_ids = scan(span)
                    attributes = (
                        self._attribution.from_span(span, resource)
                        if span_ids and self._attribution
                        else ""
                    )
                    batch.add(team, attributes, span_ids)
        return batch

    async def store(self, batch: Batch) -> None:
        """Every team's IDs, durably (a failure is retryable: 503 with Retry-After).

        Every team's queue is checked for room first, so a full queue refuses the request
        before anything of it is stored.
        """
        wanted: dict[str, int] = {}
        for (team, _), ids in batch.ids.items():
            wanted[team] = wanted.get(team, 0) + len(ids)
        for team, count in wanted.items():
            self._intake.check_room(team, count)
        for (team, attributes), ids in batch.ids.items():
            await self._intake.accept(team, list(ids), INTAKE_PATH, attributes=attributes)

    def count(self, batch: Batch) -> None:
        for result, counts in (("with_id", batch.with_id), ("without_id", batch.without_id)):
            for team, count in counts.items():
                self._spans[(team, result)] += count
        self._rejected["unknown_team"] += batch.refused

    async def handle(self, request: Request) -> Response:
        content_type = PROTOBUF
        try:
            self._intake.check_token(request)
            content_type = media_type(request.headers.get("content-type", ""))
            query_team = query_param(request, "team")
            default_team = (
                self._first_team if query_team is None else self._intake.resolve_team(query_team)
            )
            body = await read_body(request, self._config.max_body_bytes)
            message = decode(
                body,
                content_type,
                request.headers.get("content-encoding", "").strip().lower(),
                self._config.max_body_bytes,
            )
            batch = self.read(message, default_team)
            await self.store(batch)
        except IntakeError as exc:
            return _answer(_status(exc.status, str(exc)), content_type, exc.status, exc.headers)
        except OtlpError as exc:
            return _answer(_status(exc.status, str(exc)), content_type, exc.status, exc.headers)
        self.count(batch)
        response = ExportTraceServiceResponse()
        if batch.refused:
            response.partial_success.rejected_spans = batch.refused
            response.partial_success.error_message = (
                f"{batch.refused} spans name no configured team in "
                f"{self._config.team_attribute}: "
                + ", ".join(sorted(repr(value) for value in batch.unknown_teams)[:10])
            )
        return _answer(response, content_type, 200)


def _status(code: int, message: str) -> Status:
    # gRPC codes the way the OTLP specification pairs them with HTTP statuses.
    grpc = {400: 3, 401: 16, 413: 3, 415: 3, 429: 8, 503: 14}.get(code, 2)
    return Status(code=grpc, message=message)


def _answer(
    message: Message, content_type: str, status: int, headers: Mapping[str, str] | None = None
) -> Response:
    """The message in the encoding of the request, as the specification asks."""
    if content_type == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return Response(body, status_code=status, media_type=content_type, headers=dict(headers or {}))
