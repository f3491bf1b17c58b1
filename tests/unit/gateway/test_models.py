"""Parsing of upstream records: exact money, optional fields, absurd values rejected."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import is_generation_id, load_json, parse_credits, parse_generation
from exporter.gateway.retry import backoff_delay, parse_retry_after

GEN_ID = "gen_01KZ9QX0B4N6M8K0J2H4G6F8D1"


def test_byok_fixture() -> None:
    body = load_json(b"""{"data": {"id": "gen_01KZ9QX0B4N6M8K0J2H4G6F8D1", "total_cost": 0,
        "upstream_inference_cost": 0.0153, "usage": 0, "model": "openai/gpt-5.4",
        "is_byok": true, "provider_name": "openai", "streamed": false, "finish_reason": "length",
        "latency": 890, "generation_time": 890, "native_tokens_reasoning": 1536,
        "billable_web_search_calls": 1}}""")
    gen = parse_generation(body)
    assert gen.total_cost == 0 and gen.upstream_inference_cost == Decimal("0.0153")
    assert gen.is_byok is True and gen.billable_web_search_calls == 1
    assert gen.native_tokens_prompt is None, "missing fields stay None"


def test_null_missing_and_extra_fields() -> None:
    gen = parse_generation(
        {
            "data": {
                "id": GEN_ID,
                "total_cost": None,
                "model": None,
                "gateway_cost": 1.5,
                "brand_new_field": {"x": 1},
            }
        }
    )
    assert gen.total_cost is None and gen.model is None
    assert gen.invalid_fields == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_cost", -0.5),
        ("total_cost", "free"),
        ("total_cost", True),
        ("total_cost", 10**7),
        ("native_tokens_prompt", 10**12),
        ("native_tokens_prompt", 1.5),
        ("native_tokens_prompt", -3),
        ("latency", -1),
        ("streamed", "yes"),
        ("model", 42),
        ("model", ""),
        ("finish_reason", ["stop"]),
    ],
)
def test_wrong_types_and_absurd_values_are_dropped_and_listed(field: str, value: object) -> None:
    gen = parse_generation({"data": {"id": GEN_ID, field: value, "provider_name": "openai"}})
    assert gen.invalid_fields == (field,)
    assert gen.provider_name == "openai", "the rest of the record still counts"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"data": None},
        {"data": {}},
        {"data": {"id": "gen_short"}},
        [],
        "x",
        {"data": {"id": 12}},
    ],
)
def test_generation_without_valid_id_is_invalid(body: object) -> None:
    with pytest.raises(InvalidResponseError):
        parse_generation(body)


def test_credits_negative_spend_is_invalid() -> None:
    with pytest.raises(InvalidResponseError):
        parse_credits({"balance": "1", "total_used": "-1"})


def test_credits_keeps_more_than_eight_decimals_exactly() -> None:
    credits = parse_credits(load_json(b'{"balance": "0.123456789012", "total_used": 1e-8}'))
    assert credits.balance == Decimal("0.123456789012")
    assert credits.total_used == Decimal("1E-8")


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (GEN_ID, True),
        ("gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", True),
        ("gen_01arz3ndektsv4rrffq69g5fav", False),
        ("gen_01ARZ3NDEKTSV4RRFFQ69G5FA", False),
        ("gen_01ARZ3NDEKTSV4RRFFQ69G5FAVX", False),
        ("gen_01ARZ3NDEKTSV4RRFFQ69G5FAI", False),
        ("gen_01ARZ3NDEKTSV4RRFFQ69G5FAU", False),
        ("GEN_01ARZ3NDEKTSV4RRFFQ69G5FAV", False),
        ("", False),
    ],
)
def test_generation_id_pattern(text: str, ok: bool) -> None:
    assert is_generation_id(text) is ok


def test_retry_after_forms() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after("Fri, 15 Jan 2027 08:00:10 GMT", 1_799_913_600.0) == 600.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-5", now) == 0.0


def test_backoff_is_capped_full_jitter() -> None:
    import random

    rng = random.Random(3)
    for attempt in range(1, 12):
        delay = backoff_delay(attempt, 0.5, 10.0, rng)
        assert 0 <= delay <= min(10.0, 0.5 * 2 ** (attempt - 1))
