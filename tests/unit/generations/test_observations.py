"""What one looked-up record contributes, field by field: time to first token only for
streamed generations, and a null in any field read as a missing field."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import Generation, load_json, parse_generation
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.series import PERSISTED, Delta
from exporter.metrics import (
    GENERATION_COST,
    GENERATION_DURATION,
    GENERATION_MARKET_COST,
    GENERATION_OBSERVATIONS_SKIPPED,
    GENERATION_SURCHARGE_COST,
    GENERATION_TIME_TO_FIRST_TOKEN,
)

GEN_ID = "gen_01KGF3857W5E69F2H2ANCE2CYB"
# Every field /v1/generation documents, as a streamed system-credential record.
RECORD = {
    "id": GEN_ID,
    "total_cost": 0.000138,
    "upstream_inference_cost": 0,
    "usage": 0.000138,
    "created_at": "2026-08-20T14:03:11.000Z",
    "model": "openai/gpt-5",
    "is_byok": False,
    "provider_name": "openai",
    "streamed": True,
    "finish_reason": "stop",
    "latency": 412,
    "generation_time": 963,
    "tokens_prompt": 11,
    "tokens_completion": 19,
    "native_tokens_prompt": 11,
    "native_tokens_completion": 19,
    "native_tokens_reasoning": 0,
    "native_tokens_cached": 0,
    "native_tokens_cache_creation": 0,
    "billable_web_search_calls": 0,
}


def observer() -> Observer:
    return Observer(LabelLimiter(10), LabelLimiter(10), LabelLimiter(10))


def parsed(**changes: object) -> Generation:
    body = json.dumps({"data": {**RECORD, **changes}}).encode()
    return parse_generation(load_json(body))


def observed(gen: Generation, metric_name: str) -> list[Delta]:
    return [d for d in observer().deltas("prod", gen) if d.metric.name == metric_name]


def skipped(gen: Generation) -> set[tuple[str, str]]:
    return {
        (dict(d.labels)["field"], dict(d.labels)["reason"])
        for d in observer().deltas("prod", gen)
        if d.metric is GENERATION_OBSERVATIONS_SKIPPED
    }


def test_time_to_first_token_is_observed_for_streamed_generations_only() -> None:
    """Unstreamed, the first token arrives with the whole body: the gateway's latency equals
    generation_time (963 and 963 in a recorded live record) and would inflate TTFT."""
    ttft = GENERATION_TIME_TO_FIRST_TOKEN.name
    (streamed,) = observed(parsed(), ttft)
    assert streamed.value == Decimal("0.412")
    unstreamed = parsed(streamed=False, latency=963, generation_time=963)
    assert observed(unstreamed, ttft) == []
    assert [d.value for d in observed(unstreamed, GENERATION_DURATION.name)] == [Decimal("0.963")]
    assert observed(parsed(streamed=None), ttft) == [], "unknown streaming: not observed either"
    assert ("latency", "missing") not in skipped(parsed(streamed=False, latency=None))


# Fields no metric of a system-credential record reads (upstream_inference_cost is read for BYOK
# records only), so a null there skips nothing.
UNREAD = {"usage", "created_at", "tokens_prompt", "tokens_completion", "upstream_inference_cost"}


@pytest.mark.parametrize("field", sorted(set(RECORD) - {"id"}))
def test_a_null_in_any_field_is_a_missing_field(field: str) -> None:
    """The SDK's schema requires every field; whether the live API sends null (say on an
    aborted generation) is unknown, so a null is read as a missing field: the observations
    that need it are skipped and counted, the rest of the record still counts."""
    gen = parsed(**{field: None})
    assert gen.invalid_fields == (), "null is not a wrong type"
    reasons = skipped(gen) - skipped(parsed())
    assert reasons == (set() if field in UNREAD else {(field, "missing")})


def test_a_null_id_is_no_record() -> None:
    with pytest.raises(InvalidResponseError):
        parsed(id=None)


def test_the_cost_help_says_byok_generations_carry_surcharges() -> None:
    """The REST reference: total_cost includes surcharges, BYOK or not (the provider's price is
    upstream_inference_cost); the help text used to say 0 for BYOK."""
    assert "surcharges" in GENERATION_COST.help and "0 for BYOK" not in GENERATION_COST.help
    assert "for BYOK the surcharges alone" in GENERATION_COST.help


def test_the_cost_breakdown_is_published_where_present_and_never_missing() -> None:
    """market_cost and surcharge_cost are newer than the documented fields: published when a
    record carries them, absent or null on older records without a word; gateway_cost (the
    total debited) repeats total_cost and is not read."""
    gen = parsed(market_cost=0.000038, surcharge_cost=0.0001, gateway_cost=0.000138)
    assert [d.value for d in observed(gen, GENERATION_MARKET_COST.name)] == [Decimal("0.000038")]
    assert [d.value for d in observed(gen, GENERATION_SURCHARGE_COST.name)] == [Decimal("0.0001")]
    assert {d.metric for d in observer().deltas("prod", gen)} <= set(PERSISTED), "all kept"
    for older in (parsed(), parsed(market_cost=None, surcharge_cost=None)):
        assert observed(older, GENERATION_MARKET_COST.name) == []
        assert observed(older, GENERATION_SURCHARGE_COST.name) == []
        assert skipped(older) == set()
    assert "never add the two" in GENERATION_SURCHARGE_COST.help
