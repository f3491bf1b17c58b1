"""The catalog's parsers against the reference's shapes, and against catalog answers with
fields missing or of the wrong type: each bad field has one clear outcome."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from exporter.gateway.catalog_models import (
    MAX_MODELS,
    MAX_TIERS,
    UNREAD_ENDPOINT_PRICES,
    UNREAD_MODEL_PRICES,
    Price,
    Tier,
    parse_endpoints,
    parse_models,
)
from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import load_json

# The reference's fixture (section 9.4), trimmed as it is there.
HAIKU = {
    "id": "anthropic/claude-haiku-4.5",
    "object": "model",
    "created": 1755815280,
    "released": 1760486400,
    "owned_by": "anthropic",
    "name": "Claude Haiku 4.5",
    "type": "language",
    "tags": ["reasoning", "tool-use", "vision"],
    "pricing": {
        "input": "0.000001",
        "output": "0.000005",
        "input_cache_read": "0.0000001",
        "input_cache_write": "0.00000125",
    },
}
TIERED = {
    "id": "google/gemini-2.5-pro",
    "pricing": {
        "input": "0.00000125",
        "output": "0.00001",
        "input_tiers": [
            {"cost": "0.0000025", "min": 200001},
            {"cost": "0.00000125", "min": 0, "max": 200001},
        ],
    },
    "deprecated_at": 1790000000000,
}
# The shape third-party clients record from the live endpoints route.
OPUS_ENDPOINT = {
    "name": "anthropic | anthropic/claude-opus-4.5",
    "provider_name": "anthropic",
    "context_length": 200000,
    "pricing": {
        "prompt": "0.000005",
        "completion": "0.000025",
        "input_cache_read": "0.0000005",
        "input_cache_write": "0.00000625",
    },
    "status": 0,
    "uptime_last_15m": 100,
    "uptime_last_1h": 99.8806,
    "uptime_last_1d": 99.9834,
    "latency_last_1h": {"p50": 814, "p95": 1673.6999999999975},
    "throughput_last_1h": {"p50": 50.5, "p95": 51.85},
    "supports_implicit_caching": False,
}


UPTIMES = ("uptime_last_15m", "uptime_last_1h", "uptime_last_1d")


def models(*entries: Any) -> dict[str, Any]:
    return {"object": "list", "data": list(entries)}


def as_sent(body: object) -> Any:
    """``body`` as the client reads it off the wire: JSON numbers become exact Decimals."""
    return load_json(json.dumps(body).encode())


def test_the_reference_fixture_parses_to_exact_prices() -> None:
    (model,) = parse_models(as_sent(models(HAIKU))).models
    assert model.id == "anthropic/claude-haiku-4.5"
    assert {t: p.base for t, p in model.prices.items()} == {
        "input": Decimal("0.000001"),
        "output": Decimal("0.000005"),
        "cache_read": Decimal("0.0000001"),
        "cache_write": Decimal("0.00000125"),
    }
    assert model.deprecated_at is None and not model.tiered and model.invalid_fields == ()


def test_tiers_are_sorted_and_priced_by_prompt_size() -> None:
    (model,) = parse_models(as_sent(models(TIERED))).models
    price = model.prices["input"]
    assert price.tiers == (
        Tier(Decimal("0.00000125"), 0, 200001),
        Tier(Decimal("0.0000025"), 200001, None),
    )
    assert price.at(200000) == Decimal("0.00000125")
    assert price.at(200001) == Decimal("0.0000025")
    assert price.at(None) is None, "a tiered price needs the prompt's size"
    assert model.prices["output"].at(None) == Decimal("0.00001"), "a flat price does not"
    assert model.deprecated_at == Decimal(1790000000)
    assert model.tiered


def test_a_price_given_only_as_tiers_has_its_first_tier_as_base() -> None:
    price = Price(None, (Tier(Decimal("0.000002"), 0, 1000), Tier(Decimal("0.000004"), 1000, None)))
    assert price.base == Decimal("0.000002")
    assert price.at(999) == Decimal("0.000002") and price.at(5000) == Decimal("0.000004")


@pytest.mark.parametrize(
    ("pricing", "invalid", "kept"),
    [
        ({"input": 0.000001}, [], {"input"}),  # a JSON number instead of a string is exact too
        ({"input": "cheap", "output": "0.000005"}, ["pricing.input"], {"output"}),
        ({"input": True}, ["pricing.input"], set()),
        ({"input": "-0.000001"}, ["pricing.input"], set()),
        ({"input": "NaN"}, ["pricing.input"], set()),
        ({"input": "5"}, ["pricing.input"], set()),  # 5 USD a token: a bug upstream
        ({"input": None, "output": "0.000005"}, [], {"output"}),
        # A tier list that does not add up drops the token type: its flat price alone would
        # price long prompts wrong.
        (
            {"input": "0.000001", "input_tiers": [{"cost": "x", "min": 0}]},
            ["pricing.input_tiers"],
            set(),
        ),
        (
            {"input": "0.000001", "input_tiers": [{"cost": "0.1", "min": 0, "max": 10}, 3]},
            ["pricing.input_tiers"],
            set(),
        ),
        (
            {"input_tiers": [{"cost": "0.1", "min": 0, "max": 500}, {"cost": "0.2", "min": 400}]},
            ["pricing.input_tiers"],
            set(),
        ),
        ({"input_tiers": [{"cost": "0.1", "min": 10, "max": 10}]}, ["pricing.input_tiers"], set()),
        ({"input_tiers": []}, ["pricing.input_tiers"], set()),
        ({"input_tiers": {"cost": "0.1"}}, ["pricing.input_tiers"], set()),
    ],
)
def test_an_unusable_price_drops_only_its_token_type(
    pricing: dict[str, Any], invalid: list[str], kept: set[str]
) -> None:
    (model,) = parse_models(as_sent(models({"id": "a/b", "pricing": pricing}))).models
    assert list(model.invalid_fields) == invalid
    assert set(model.prices) == kept


@pytest.mark.parametrize("pricing", ["0.000001", 7, ["input"]])
def test_pricing_that_is_not_an_object_is_named(pricing: object) -> None:
    (model,) = parse_models(as_sent(models({"id": "a/b", "pricing": pricing}))).models
    assert model.invalid_fields == ("pricing",) and not model.prices


@pytest.mark.parametrize("deprecated_at", ["soon", -1, 0, 10**17, True, {"ms": 1}])
def test_an_unusable_deprecation_date_is_dropped(deprecated_at: object) -> None:
    (model,) = parse_models(as_sent(models({**HAIKU, "deprecated_at": deprecated_at}))).models
    assert model.deprecated_at is None and model.invalid_fields == ("deprecated_at",)
    assert len(model.prices) == 4, "the rest of the entry still counts"


def test_entries_without_an_id_are_skipped_and_counted_and_duplicates_keep_the_first() -> None:
    second = {**HAIKU, "pricing": {"input": "0.5"}}
    answer = parse_models(
        as_sent(models(HAIKU, {"name": "no id"}, {"id": 42}, "x", {"id": ""}, second))
    )
    assert answer.skipped == 4
    (model,) = answer.models
    assert model.prices["input"].base == Decimal("0.000001")


@pytest.mark.parametrize(
    "body", [None, [], {"object": "list"}, {"data": {"id": "a/b"}}, {"data": "models"}]
)
def test_an_answer_without_a_data_list_is_invalid(body: object) -> None:
    with pytest.raises(InvalidResponseError, match="models: expected"):
        parse_models(body)


def test_an_endpoint_becomes_ratios_seconds_and_prices() -> None:
    (endpoint,) = parse_endpoints(as_sent({"data": {"id": "x", "endpoints": [OPUS_ENDPOINT]}}))
    assert endpoint.provider == "anthropic" and endpoint.status == 0
    assert endpoint.uptime == {
        "15m": Decimal(1),
        "1h": Decimal("0.998806"),
        "1d": Decimal("0.999834"),
    }
    assert endpoint.latency == {"p50": Decimal("0.814"), "p95": Decimal("1.6736999999999975")}
    assert endpoint.throughput == {"p50": Decimal("50.5"), "p95": Decimal("51.85")}
    assert endpoint.prices == {
        "input": Decimal("0.000005"),
        "output": Decimal("0.000025"),
        "cache_read": Decimal("0.0000005"),
        "cache_write": Decimal("0.00000625"),
    }
    assert endpoint.invalid_fields == ()


def test_bad_endpoint_fields_are_dropped_one_by_one() -> None:
    bad = {
        "provider_name": "bedrock",
        "status": "up",
        "uptime_last_15m": 140,
        "uptime_last_1h": "99.5",  # a decimal string is still a number
        "uptime_last_1d": None,
        "latency_last_1h": {"p50": -3, "p95": 900},
        "throughput_last_1h": [50],
        "pricing": {"prompt": "free", "completion": "0.00001"},
    }
    (endpoint,) = parse_endpoints(as_sent({"data": {"endpoints": [bad, {"status": 0}, "x"]}}))
    assert endpoint.status is None and endpoint.uptime == {"1h": Decimal("0.995")}
    assert endpoint.latency == {"p95": Decimal("0.9")} and endpoint.throughput == {}
    assert endpoint.prices == {"output": Decimal("0.00001")}
    assert endpoint.invalid_fields == (
        "status",
        "uptime_last_15m",
        "latency_last_1h.p50",
        "throughput_last_1h",
        "pricing.prompt",
    )


def test_the_uptime_of_a_provider_without_traffic_is_a_placeholder_left_out() -> None:
    """With no latency or throughput in the last hour the gateway shows 100 % uptime: not a
    measurement. A lower value was measured earlier in its window and stays."""
    idle = {
        "provider_name": "novita",
        "status": 0,
        "uptime_last_15m": 100,
        "uptime_last_1h": 100,
        "uptime_last_1d": 99.2,
        "latency_last_1h": None,
        "throughput_last_1h": None,
    }
    busy = {**idle, "provider_name": "groq", "latency_last_1h": {"p50": 300, "p95": 700}}
    (quiet, served) = parse_endpoints(as_sent({"data": {"endpoints": [idle, busy]}}))
    assert quiet.uptime == {"1d": Decimal("0.992")}
    assert served.uptime == {"15m": 1, "1h": 1, "1d": Decimal("0.992")}


def test_recorded_providers_without_latency_keep_only_measured_uptime() -> None:
    """Recorded 2026-09-20: a provider with no traffic all day has every window null; one
    failing every request shows 0 (a measurement: it stays); one whose latency the gateway
    does not report shows its uptime below 100 (kept too)."""
    nulls: dict[str, object] = {"latency_last_1h": None, "throughput_last_1h": None}
    silent = {"provider_name": "blackbox", **nulls, **dict.fromkeys(UPTIMES)}
    failing = {"provider_name": "runinfra", **nulls, **dict.fromkeys(UPTIMES, 0)}
    measured = dict(zip(UPTIMES, (99.6839, 99.6342, 99.1332), strict=True))
    unmeasured = {"provider_name": "xai", **nulls, **measured}
    answer = parse_endpoints(as_sent({"data": {"endpoints": [silent, failing, unmeasured]}}))
    assert [e.uptime for e in answer] == [
        {},
        {"15m": 0, "1h": 0, "1d": 0},
        {"15m": Decimal("0.996839"), "1h": Decimal("0.996342"), "1d": Decimal("0.991332")},
    ]
    assert all(e.invalid_fields == () and not e.latency and not e.throughput for e in answer)


# GPT-5.5 on OpenAI as the endpoints route was recorded (2026-09-20), trimmed: tiered prices,
# service tiers, a regional variant and OpenRouter's zero fields.
GPT_55_PRICING: dict[str, object] = {
    "prompt": "0.000005",
    "prompt_tiers": [
        {"cost": "0.000005", "min": 0, "max": 272000},
        {"cost": "0.00001", "min": 272000},
    ],
    "completion": "0.00003",
    "request": "0",
    "image": "0",
    "image_output": "0",
    "web_search": "0",
    "internal_reasoning": "0",
    "input_cache_read": "0.0000005",
    "service_tiers": {
        "priority": {"prompt": "0.0000125", "completion": "0.000075"},
        "flex": {
            "prompt": "0.0000025",
            "completion": "0.000015",
            "long_context": {"threshold": 272000, "prompt": "0.000005"},
        },
    },
    "discount": 0,
}
TIERED_ENDPOINT = {
    "provider_name": "openai",
    "pricing": GPT_55_PRICING,
    "inference_regions": [
        {
            "scope": "zone",
            "geo_region": "us",
            "pricing": {"prompt": "0.0000055", "completion": "0.000033"},
        }
    ],
}


def test_a_providers_tiered_price_is_not_read_flat_and_its_variants_are_ignored() -> None:
    """A tiered prompt price is no one price: cache savings fall back to the list's."""
    (endpoint,) = parse_endpoints(as_sent({"data": {"endpoints": [TIERED_ENDPOINT]}}))
    assert endpoint.prices == {
        "output": Decimal("0.00003"),
        "cache_read": Decimal("0.0000005"),
    }
    assert endpoint.invalid_fields == ()
    unread = set(UNREAD_ENDPOINT_PRICES) - {"inference_regions"}
    assert unread <= set(GPT_55_PRICING), "the recorded shape holds every one"


# Each price field left unread, in the shape the catalog gives it (MATON's notes, recorded
# answers); fields whose shape no source shows carry a plain price.
UNREAD_SHAPES: dict[str, object] = {
    "regional": {
        "us": {"input": "0.0000011", "output": "0.0000055", "input_cache_read": "0.00000011"},
        "eu": {"input": "0.0000011", "output": "0.0000055", "input_cache_read": "0.00000011"},
    },
    "service_tiers": {
        "priority": {"input": "0.000002", "output": "0.00001"},
        "flex": {
            "input": "0.0000005",
            "output": "0.0000025",
            "long_context": {"threshold": 272001, "input": "0.000001", "output": "0.00000375"},
        },
    },
    "image": "0.04",
    "varies_by_provider": True,
}


@pytest.mark.parametrize("field", sorted(UNREAD_MODEL_PRICES))
def test_a_price_field_left_unread_changes_nothing(field: str) -> None:
    pricing = {"input": "0.000001", field: UNREAD_SHAPES.get(field, "0.001")}
    (model,) = parse_models(as_sent(models({"id": "a/b", "pricing": pricing}))).models
    assert model.invalid_fields == () and model.web_search is None
    assert model.prices == {"input": Price(Decimal("0.000001"))}


def test_a_model_priced_by_nothing_read_has_no_prices() -> None:
    """The live catalog has such models: Perplexity's Sonar models, most rerankers."""
    (model,) = parse_models(as_sent(models({"id": "perplexity/sonar", "pricing": {}}))).models
    assert model.prices == {} and model.web_search is None and model.invalid_fields == ()


def test_a_first_tier_without_min_starts_at_zero() -> None:
    """As recorded on GPT-6 Astra's endpoints (2026-09-20): the first band has only max."""
    tiers = [{"cost": "0.00001", "max": 272001}, {"cost": "0.00002", "min": 272001}]
    pricing = {"input": "0.00001", "input_tiers": tiers}
    (model,) = parse_models(as_sent(models({"id": "a/b", "pricing": pricing}))).models
    assert model.prices["input"].tiers[0] == Tier(Decimal("0.00001"), 0, 272001)
    assert model.prices["input"].at(0) == Decimal("0.00001") and model.invalid_fields == ()


@pytest.mark.parametrize(
    ("web_search", "price", "invalid"),
    [
        ("0.01", Decimal("0.01"), ()),
        (0.035, Decimal("0.035"), ()),  # a JSON number is exact too
        ("0", Decimal(0), ()),
        (None, None, ()),
        ("a cent", None, ("pricing.web_search",)),
        ("-0.01", None, ("pricing.web_search",)),
        ("25", None, ("pricing.web_search",)),  # 25 USD a search: a bug upstream
    ],
)
def test_the_web_search_price_is_per_call_and_bounded(
    web_search: object, price: Decimal | None, invalid: tuple[str, ...]
) -> None:
    """Documented as the cost per web search request: a price per call, not per token."""
    pricing = {"input": "0.000001", "output": "0.000005", "web_search": web_search}
    (model,) = parse_models(as_sent(models({**HAIKU, "pricing": pricing}))).models
    assert model.web_search == price and model.invalid_fields == invalid
    assert len(model.prices) == 2, "the token prices stand apart"


@pytest.mark.parametrize(
    "body", [{"data": []}, {"data": {"endpoints": None}}, {"endpoints": []}, "x"]
)
def test_an_endpoints_answer_without_an_endpoints_list_is_invalid(body: object) -> None:
    with pytest.raises(InvalidResponseError, match="endpoints: expected"):
        parse_endpoints(body)


def test_a_hostile_catalog_is_read_within_bounds() -> None:
    """Unlimited price tiers gave 400,000 samples, a 53.7 MB exposition and 799 MB of memory;
    a 50,000-model catalog stalled the loop for 5.8 s."""
    many_tiers = [{"cost": "0.000001", "min": n, "max": n + 1} for n in range(MAX_TIERS + 1)]
    models = [{"id": f"a/m{n}", "pricing": {"input": "0.000001"}} for n in range(MAX_MODELS + 7)]
    models[0]["pricing"] = {"input_tiers": many_tiers}
    answer = parse_models(as_sent({"object": "list", "data": models}))
    assert len(answer.models) == MAX_MODELS and answer.dropped == 7
    assert answer.models[0].prices == {} and answer.models[0].invalid_fields == (
        "pricing.input_tiers",
    )
