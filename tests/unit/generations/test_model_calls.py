"""Model-call spans without a generation ID are counted and explained, and attribution a
model call lacks is inherited from its ancestors in the same request (AI SDK 7's shape)."""

from __future__ import annotations

import logging
import os
from typing import cast

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from exporter.config import AttributionConfig, OtlpConfig
from exporter.generations.attribution import Attribution, decode
from exporter.generations.intake import Intake
from exporter.generations.model_calls import JUDGED_AFTER, ModelCallSpans, model_call
from exporter.generations.observations import Observer
from exporter.generations.otlp import OtlpIntake, TeamMapping, read_response
from exporter.metrics import GENERATION_MODEL_CALL_SPANS
from tests.support.otlp import provider_metadata, request, span

A, B = (f"gen_01ARZ3NDEKTSV4RRFFQ69G5FA{c}" for c in "AB")


def ai_sdk_6_step(metadata: bool) -> Span:
    """generateText's model call through the gateway provider; without metadata, as the AI SDK
    records a step whose stream failed part way (recordOutputs: false keeps it)."""
    attrs: dict[str, object] = {
        "ai.model.provider": "gateway",
        "ai.model.id": "openai/gpt-5-mini",
        "gen_ai.system": "gateway",
        "gen_ai.request.model": "openai/gpt-5-mini",
    }
    if metadata:
        attrs["ai.response.providerMetadata"] = provider_metadata(A)
    return span("ai.generateText.doGenerate", attrs)


def ai_sdk_7_chat(metadata: bool) -> Span:
    """AI SDK 7's OpenTelemetry integration: a semantic-convention span per model call;
    provider metadata only with providerMetadata: true."""
    attrs: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "gateway",
        "gen_ai.request.model": "openai/gpt-5-mini",
        "gen_ai.response.id": "aitxt-3uQhNpx0f1X8",
    }
    if metadata:
        attrs["ai.response.providerMetadata"] = provider_metadata(B)
    return span("chat openai/gpt-5-mini", attrs)


@pytest.mark.parametrize(
    ("shape", "kind"),
    [
        (ai_sdk_6_step(metadata=False), "ai_sdk"),
        (ai_sdk_6_step(metadata=True), "ai_sdk"),
        (ai_sdk_7_chat(metadata=False), "gen_ai"),
        (
            span(
                "chat gpt-5-mini",
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "server.address": "ai-gateway.vercel.sh",
                },
            ),
            "gen_ai",
        ),
        (span("ai.embed.doEmbed", {"ai.model.provider": "gateway"}), None),
        (
            span(
                "embeddings x", {"gen_ai.operation.name": "embeddings", "gen_ai.system": "gateway"}
            ),
            None,
        ),
        (span("chat gpt-5", {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}), None),
        (span("ai.generateText", {"ai.model.provider": "gateway"}), None),
        (span("SELECT chats", {"db.system": "postgresql"}), None),
    ],
    ids=[
        "AI SDK 6 step",
        "AI SDK 6 step with metadata",
        "AI SDK 7 chat",
        "OpenAI SDK pointed at the gateway",
        "an embedding (no ID to carry)",
        "a semconv embedding",
        "a chat straight to a provider",
        "the outer generateText span",
        "a database span",
    ],
)
def test_what_counts_as_a_model_call_through_the_gateway(shape: Span, kind: str | None) -> None:
    assert model_call(shape) == kind
    # The same answer from the pass that reads the response's IDs too, with those IDs.
    ids = [A] if "ai.response.providerMetadata" in {a.key for a in shape.attributes} else []
    assert read_response(shape) == (ids, kind)


def reader(attribution: Attribution | None = None) -> OtlpIntake:
    """read() sorts spans and stores nothing, so it needs no intake behind it."""
    config = OtlpConfig()
    return OtlpIntake(
        cast(Intake, None),
        TeamMapping(config, ["prod"]),
        config,
        ["prod"],
        cast(Observer, None),
        attribution,
    )


def counts(spans: ModelCallSpans) -> dict[str, float]:
    (family,) = spans.collect()
    assert family.name + "_total" == GENERATION_MODEL_CALL_SPANS.name
    return {sample.labels["result"]: sample.value for sample in family.samples}


def test_a_team_whose_model_calls_mostly_carry_no_id_is_told_once_with_the_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    intake = reader()
    healthy = request([ai_sdk_7_chat(metadata=True) for _ in range(JUDGED_AFTER)])
    intake.count(intake.read(healthy.resource_spans, "prod"))
    assert counts(intake.model_calls) == {"with_id": JUDGED_AFTER, "without_id": 0}
    assert intake.model_calls.notes() == {}

    silent = request([ai_sdk_7_chat(metadata=False) for _ in range(JUDGED_AFTER + 1)])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            intake.count(intake.read(silent.resource_spans, "prod"))
    warnings = [r.getMessage() for r in caplog.records if "model-call spans" in r.getMessage()]
    assert len(warnings) == 1, "said once, not on every request"
    assert "providerMetadata: true" in warnings[0]
    note = intake.model_calls.notes()["prod"]
    assert note.startswith(f"team prod: {3 * (JUDGED_AFTER + 1)} of ")
    assert counts(intake.model_calls) == {
        "with_id": JUDGED_AFTER,
        "without_id": 3 * (JUDGED_AFTER + 1),
    }


def test_ai_sdk_steps_without_metadata_point_at_failed_streams() -> None:
    """Not at recordOutputs: false, which AI SDK 5 and 6 record the provider metadata with."""
    intake = reader()
    silent = request([ai_sdk_6_step(metadata=False) for _ in range(JUDGED_AFTER)])
    intake.count(intake.read(silent.resource_spans, "prod"))
    note = intake.model_calls.notes()["prod"]
    assert "stream failed part way" in note
    assert "recordOutputs: false" not in note


def test_too_few_model_calls_are_not_judged() -> None:
    intake = reader()
    silent = request([ai_sdk_6_step(metadata=False) for _ in range(JUDGED_AFTER - 1)])
    intake.count(intake.read(silent.resource_spans, "prod"))
    assert intake.model_calls.notes() == {}


def child(parent: Span, name: str, attrs: dict[str, object]) -> Span:
    out = span(name, attrs)
    out.trace_id, out.parent_span_id = parent.trace_id, parent.span_id
    return out


def test_attribution_is_inherited_from_the_nearest_ancestor_in_the_request() -> None:
    """AI SDK 7: the function ID is on the outer call and the agent step, the generation ID
    on the chat span under them."""
    attribution = Attribution(
        AttributionConfig(labels=["feature=span:gen_ai.agent.name", "customer=span:app.customer"])
    )
    outer = span("ai.streamText", {"gen_ai.agent.name": "support-bot", "app.customer": "acme"})
    step = child(outer, "agent_step", {"gen_ai.agent.name": "support-bot.triage"})
    chat = child(
        step, "chat openai/gpt-5-mini", {"ai.response.providerMetadata": provider_metadata(A)}
    )
    # Another request's spans that claim the same parent are never read.
    stranger = span("chat x", {"ai.response.providerMetadata": provider_metadata(B)})
    stranger.trace_id, stranger.parent_span_id = os.urandom(16), step.span_id
    batch = reader(attribution).read(request([outer, step, chat, stranger]).resource_spans, "prod")
    by_id = {gen_id: decode(stored) for (_, stored), ids in batch.ids.items() for gen_id in ids}
    assert by_id[A] == {"feature": "support-bot.triage", "customer": "acme"}
    assert by_id[B] == {}


def test_a_loop_of_parents_ends() -> None:
    attribution = Attribution(AttributionConfig(labels=["feature=span:gen_ai.agent.name"]))
    first = span("a", {})
    second = child(first, "chat", {"ai.response.providerMetadata": provider_metadata(A)})
    first.parent_span_id = second.span_id
    batch = reader(attribution).read(request([first, second]).resource_spans, "prod")
    assert [list(ids) for ids in batch.ids.values()] == [[A]]
