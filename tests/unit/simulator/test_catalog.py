"""The simulator's model catalog through its ASGI app: prices for every model it generates,
tiers, deprecations, drifting provider health, a price change by control call, and the
ground truth tests compare savings with."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from exporter.simulator.app import Simulator, create_app
from exporter.simulator.catalog import (
    CATALOGUE,
    DAY,
    EMBEDDING_MODELS,
    LISTED_ONLY_MODELS,
    UPTIMES,
    SimCatalog,
    catalogue,
)

KEY = "sk-sim-catalog-0123456789"


def client(sim: Simulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(sim)), base_url="http://s"
    )


async def listed(sim: Simulator) -> dict[str, dict[str, Any]]:
    async with client(sim) as http:
        body = (await http.get("/v1/models")).json()
    return {entry["id"]: entry for entry in body["data"]}


async def test_every_generated_model_but_the_private_one_is_priced() -> None:
    sim = Simulator(rate=0)
    models = await listed(sim)
    served = {spec.id for spec in CATALOGUE}  # chat models; embedding models serve embeddings
    embedding = {spec.id for spec in EMBEDDING_MODELS}
    others = {spec.id for spec in LISTED_ONLY_MODELS}
    assert set(models) == (served | embedding | others) - {"acme/support-tuned-8b"}
    assert {models[m]["type"] for m in embedding} == {"embedding"}
    for model_id in (served | embedding) & set(models):
        pricing = models[model_id]["pricing"]
        assert set(pricing) >= {"input", "output", "input_cache_read", "input_cache_write"}
        assert all("E" not in v for v in pricing.values() if isinstance(v, str)), "no exponents"
    assert models["bfl/flux-kontext-pro"]["pricing"] == {"image": "0.04"}, "per image only"
    assert models["cohere/rerank-v3.5"]["pricing"] == {}, "priced by nothing, like most rerankers"
    assert all(m["supported_specifications"] == ["v2", "v3", "v4"] for m in models.values())
    assert all(set(m["modalities"]) == {"input", "output"} for m in models.values())
    haiku = models["anthropic/claude-haiku-4.5"]["pricing"]
    assert haiku["input"] == "0.000001" and haiku["input_cache_read"] == "0.0000001"
    world = sim.world_for(KEY)
    generated = {sim.generate(world).model for _ in range(300)}
    assert generated == served


async def test_one_model_is_deprecated_within_30_days_and_one_later() -> None:
    sim = Simulator(rate=0)
    now = time.time()
    deprecations = {
        model_id: entry["deprecated_at"] / 1000
        for model_id, entry in (await listed(sim)).items()
        if "deprecated_at" in entry
    }
    soon = [m for m, at in deprecations.items() if now < at < now + 30 * DAY]
    later = [m for m, at in deprecations.items() if at > now + 30 * DAY]
    assert soon == ["meta/llama-4-maverick"] and later == ["openai/gpt-5.4-mini"]


async def test_a_tiered_model_lists_every_token_types_tiers() -> None:
    pricing = (await listed(Simulator(rate=0)))["google/gemini-2.5-flash"]["pricing"]
    assert pricing["input_tiers"] == [
        {"cost": "0.0000003", "min": 0, "max": 2000},
        {"cost": "0.0000006", "min": 2000},
    ]
    assert pricing["input_cache_read_tiers"] == [
        {"cost": "0.00000003", "max": 2000},  # the other recorded shape: no min
        {"cost": "0.00000006", "min": 2000},
    ]
    assert {"output_tiers", "input_cache_write_tiers"} <= set(pricing)


async def test_the_prices_the_exporter_leaves_unread_are_served() -> None:
    models = await listed(Simulator(rate=0))
    haiku, gpt = models["anthropic/claude-haiku-4.5"], models["openai/gpt-5.4"]
    assert haiku["pricing"]["regional"]["eu"]["input"] == "0.0000011"
    assert set(haiku["pricing"]["regional"]) == {"us", "eu"} and "service_tiers" not in haiku
    assert gpt["pricing"]["service_tiers"] == {
        "priority": {"input": "0.0000025", "output": "0.00002", "input_cache_read": "0.00000025"},
        "flex": {"input": "0.000000625", "output": "0.000005", "input_cache_read": "0.0000000625"},
    }


async def test_web_searches_are_charged_at_the_models_price_per_call() -> None:
    """Models whose creator prices web search list it and may search; the others never do."""
    sim = Simulator(rate=0)
    prices = {m: e["pricing"].get("web_search") for m, e in (await listed(sim)).items()}
    assert prices["anthropic/claude-sonnet-4.6"] == "0.01"
    assert prices["google/gemini-2.5-flash"] == "0.035"
    assert prices["deepseek/deepseek-v3.2"] is None
    assert prices["openai/text-embedding-3-small"] is None
    world = sim.world_for(KEY)
    world.web_search_share = 0.5
    gens = [sim.generate(world) for _ in range(300)]
    searched = {g.model for g in gens if g.web_search_calls}
    assert searched and all(prices[m] is not None for m in searched)
    for gen in gens:
        assert gen.web_search_fee == Decimal(prices.get(gen.model) or 0) * gen.web_search_calls


async def test_providers_without_traffic_are_listed_but_never_serve() -> None:
    """An idle provider shows the 100 % placeholder and a day's uptime measured earlier; a
    silent one null in every window; neither has latency or throughput, nor a generation."""
    catalog = SimCatalog(started=1_800_000_000.0)
    _, body = catalog.endpoints_answer("deepseek/deepseek-v3.2", 1_800_003_600.0)
    endpoints = {e["provider_name"]: e for e in body["data"]["endpoints"]}
    assert list(endpoints) == ["novita", "deepinfra", "baseten", "blackbox"]
    idle, silent = endpoints["baseten"], endpoints["blackbox"]
    assert (idle["uptime_last_15m"], idle["uptime_last_1h"]) == (100, 100)
    assert 99 <= idle["uptime_last_1d"] < 100
    assert all(silent[window] is None for window in UPTIMES)
    for quiet in (idle, silent):
        assert quiet["latency_last_1h"] is None and quiet["throughput_last_1h"] is None
    assert endpoints["novita"]["latency_last_1h"] is not None
    sim = Simulator(rate=0)
    world = sim.world_for(KEY)
    served = {sim.generate(world, model="deepseek/deepseek-v3.2").provider_name for _ in range(50)}
    assert served == {"novita", "deepinfra"}


async def test_endpoints_carry_the_recorded_price_shapes() -> None:
    catalog = SimCatalog(started=1_800_000_000.0)
    _, gpt = catalog.endpoints_answer("openai/gpt-5.4", 1_800_000_000.0)
    openai, azure = gpt["data"]["endpoints"]
    assert openai["pricing"]["service_tiers"]["flex"]["prompt"] == "0.000000625"
    (zone,) = openai["inference_regions"]
    assert zone["geo_region"] == "us" and zone["pricing"]["prompt"] == "0.000001375"
    assert "service_tiers" not in azure["pricing"] and "inference_regions" not in azure
    assert azure["pricing"]["web_search"] == "0" and azure["pricing"]["discount"] == 0
    _, gemini = catalog.endpoints_answer("google/gemini-2.5-flash", 1_800_000_000.0)
    (vertex,) = gemini["data"]["endpoints"]
    assert vertex["pricing"]["prompt_tiers"][1] == {"cost": "0.0000006", "min": 2000}
    assert gpt["data"]["architecture"]["output_modalities"] == ["text"]


async def test_endpoints_carry_provider_prices_and_health_that_drifts() -> None:
    catalog = SimCatalog(started=1_800_000_000.0)
    samples = [
        catalog.endpoints_answer("anthropic/claude-sonnet-4.6", 1_800_000_000.0 + step * 120)
        for step in range(40)
    ]
    assert all(status == 200 for status, _ in samples)
    first = samples[0][1]["data"]["endpoints"]
    assert [e["provider_name"] for e in first] == ["anthropic", "bedrock", "vertex"]
    assert first[0]["pricing"]["prompt"] == "0.000003"
    assert first[1]["pricing"]["prompt"] == "0.0000033", "bedrock charges its own price"
    bedrock = [body["data"]["endpoints"][1] for _, body in samples]
    assert len({e["uptime_last_15m"] for e in bedrock}) > 10
    assert len({e["latency_last_1h"]["p50"] for e in bedrock}) > 10
    assert all(95 <= e["uptime_last_15m"] <= 100 for e in bedrock)
    assert {e["status"] for e in bedrock} == {0}, "no status but the documented one"
    assert catalog.endpoints_answer("acme/support-tuned-8b", 0)[0] == 404
    assert catalog.endpoints_answer("nobody/nothing", 0)[0] == 404


async def test_the_endpoints_route_answers_without_a_key() -> None:
    async with client(Simulator(rate=0)) as http:
        found = await http.get("/v1/models/openai/gpt-5.4/endpoints")
        missing = await http.get("/v1/models/acme/support-tuned-8b/endpoints")
    assert [e["provider_name"] for e in found.json()["data"]["endpoints"]] == ["openai", "azure"]
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "model_not_found"


async def test_a_price_change_applies_from_now_on_and_is_in_the_truth() -> None:
    sim = Simulator(rate=0)
    world = sim.world_for(KEY)
    before = sim.generate(world, model="deepseek/deepseek-v3.2")
    async with client(sim) as http:
        changed = await http.post(
            "/_sim/prices",
            json={"model": "deepseek/deepseek-v3.2", "input": "0.00000054", "cache_read": "0"},
        )
        assert changed.status_code == 200
        for bad in (
            {"model": "deepseek/deepseek-v3.2"},
            {"model": "deepseek/deepseek-v3.2", "input": "cheap"},
            {"model": "deepseek/deepseek-v3.2", "input": "-1"},
            {"model": "nobody/nothing", "input": "0.1"},
        ):
            assert (await http.post("/_sim/prices", json=bad)).status_code == 400, bad
        pricing = (await http.get("/v1/models")).json()["data"]
        truth = (await http.get("/_sim/truth")).json()
    (deepseek,) = [m["pricing"] for m in pricing if m["id"] == "deepseek/deepseek-v3.2"]
    assert deepseek["input"] == "0.00000054" and deepseek["input_cache_read"] == "0"
    (change,) = truth["catalog"]["price_changes"]
    assert change["before"] == {"input": "0.00000027", "cache_read": "0.000000027"}
    assert change["after"] == {"input": "0.00000054", "cache_read": "0"}
    after = sim.generate(world, model="deepseek/deepseek-v3.2")
    cost = (after.tokens_prompt - after.tokens_cached) * Decimal("0.00000054")
    cost += after.tokens_cache_creation * Decimal("0.0000003375")
    cost += (after.tokens_completion + after.tokens_reasoning) * Decimal("0.0000011")
    assert after.market_cost == cost.quantize(Decimal("1e-8"))
    if after.tokens_cached:
        assert after.cache_savings == after.tokens_cached * Decimal("0.00000054")
    assert before.id in {g["id"] for g in truth["teams"][world.name]["generations"]}


def test_a_stress_catalogue_adds_synthetic_models_up_to_the_count() -> None:
    specs = catalogue(200)
    assert len(specs) == 200 == len({s.id for s in specs})
    assert specs[: len(CATALOGUE)] == CATALOGUE
    generated = [s for s in specs if s not in LISTED_ONLY_MODELS]
    assert all(s.providers and s.input_price > 0 for s in generated)
    assert catalogue() == catalogue(3) == CATALOGUE + EMBEDDING_MODELS + LISTED_ONLY_MODELS
