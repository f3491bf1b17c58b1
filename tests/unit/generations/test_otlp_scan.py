"""The fast span scan of OTLP intake finds exactly what a plain walk over every attribute string
finds: the serialized-bytes shortcut, the literal-first regex and the per-request batching
change the cost, never the result."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import cast

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from exporter.config import OtlpConfig
from exporter.gateway.models import ANY_CASE_ID_PATTERN, canonical_generation_id
from exporter.generations.intake import Intake
from exporter.generations.observations import Observer
from exporter.generations.otlp import ID_ANYWHERE, Batch, OtlpIntake, TeamMapping, every_id

# The pattern as first written: lookbehind first, then the ID.
REFERENCE = re.compile(rf"(?<![0-9A-Za-z_]){ANY_CASE_ID_PATTERN}(?![0-9A-Za-z_])")
ID = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"

# Text made of the pieces that matter at an ID's edges: IDs in both cases, word characters
# and separators on either side, a bare "gen_", and a non-ASCII character.
pieces = st.sampled_from([ID, ID.lower(), "gen_", "x", "_", "9", " ", "{", '"', "é", "Z"])
texts = st.lists(pieces, max_size=6).map("".join)


def reference_strings(value: AnyValue) -> Iterator[str]:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        yield value.string_value
    elif kind == "array_value":
        for item in value.array_value.values:
            yield from reference_strings(item)
    elif kind == "kvlist_value":
        for pair in value.kvlist_value.values:
            yield from reference_strings(pair.value)


def reference_ids(span: Span) -> list[str]:
    """Every string of every attribute of the span and its events, scanned one by one."""
    found: dict[str, None] = {}
    for attributes in (span.attributes, *(event.attributes for event in span.events)):
        for attribute in attributes:
            for text in reference_strings(attribute.value):
                for match in REFERENCE.findall(text):
                    found[canonical_generation_id(match) or ""] = None
    return list(found)


@st.composite
def values(draw: st.DrawFn) -> AnyValue:
    kind = draw(st.sampled_from(["string", "int", "array", "kvlist"]))
    out = AnyValue()
    if kind == "string":
        out.string_value = draw(texts)
    elif kind == "int":
        out.int_value = draw(st.integers(0, 10**6))
    elif kind == "array":
        out.array_value.values.extend(AnyValue(string_value=t) for t in draw(st.lists(texts)))
    else:
        out.kvlist_value.values.extend(
            KeyValue(key=k, value=AnyValue(string_value=t))
            for k, t in draw(st.lists(st.tuples(texts, texts), max_size=3))
        )
    return out


@st.composite
def spans(draw: st.DrawFn) -> Span:
    # IDs in the span's name and attribute keys are not read: the bytes shortcut sees them,
    # so they must not change the answer.
    span = Span(name=draw(texts))
    for key in draw(st.lists(texts, max_size=4)):
        span.attributes.add(key=key).value.CopyFrom(draw(values()))
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(name=draw(texts))
        event.attributes.add(key="note").value.CopyFrom(draw(values()))
    return span


@given(texts)
def test_the_literal_first_pattern_matches_what_the_lookbehind_first_one_did(text: str) -> None:
    assert ID_ANYWHERE.findall(text) == REFERENCE.findall(text)


@given(spans())
def test_a_span_yields_the_ids_a_walk_over_every_attribute_string_finds(span: Span) -> None:
    assert every_id(span) == reference_ids(span)


def test_an_id_outside_attribute_values_is_not_read() -> None:
    span = Span(name=ID)
    span.attributes.add(key=ID).value.int_value = 1
    span.events.add(name=ID)
    assert every_id(span) == []


@given(st.lists(st.lists(st.sampled_from([ID, ID.lower(), "gen_01ARZ3NDEKTSV4RRFFQ69G5FAW"]))))
def test_adding_many_spans_at_once_is_adding_them_one_by_one(found: list[list[str]]) -> None:
    one_by_one, at_once = Batch(), Batch()
    for span_ids in found:
        one_by_one.add("prod", "", span_ids)
    at_once.add_all("prod", found)
    assert at_once == one_by_one


@given(st.lists(spans(), max_size=4), st.lists(spans(), max_size=4))
def test_a_request_is_read_as_walking_every_span_reads_it(
    first: list[Span], second: list[Span]
) -> None:
    """Two scopes, each with or without a "gen_" anywhere: the scope shortcut and the
    one-team path count and collect what span-by-span walks do."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.scope_spans.add().spans.extend(first)
    resource_spans.scope_spans.add().spans.extend(second)
    expected = Batch()
    for span in (*first, *second):
        expected.add("prod", "", reference_ids(span))
    config = OtlpConfig(scan_all_attributes=True)
    # read() sorts spans and stores nothing, so it needs no intake behind it.
    reader = OtlpIntake(
        cast(Intake, None),
        TeamMapping(config, ["prod"]),
        config,
        ["prod"],
        cast(Observer, None),
    )
    assert reader.read(message.resource_spans, "prod") == expected
