"""The simulator's model catalog through its ASGI app: prices for every model it generates,
tiers, deprecations, drifting provider health, a price change by control call, and the
ground truth tests compare savings with."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx

from exporter.simulator.app import Simulator, create_app
from exporter.simulator.catalog import CATALOGUE, DAY, EMBEDDING_MODELS, SimCatalog, catalogue

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
    assert set(models) == (served | embedding) - {"acme/support-tuned-8b"}
    assert {models[m]["type"] for m in embedding} == {"embedding"}
    for entry in models.values():
        pricing = entry["pricing"]
        assert set(pricing) >= {"input", "output", "input_cache_read", "input_cache_write"}
        assert all("E" not in v for v in pricing.values() if isinstance(v, str)), "no exponents"
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
    assert {"output_tiers", "input_cache_read_tiers", "input_cache_write_tiers"} <= set(pricing)


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
    assert all(s.providers and s.input_price > 0 for s in specs)
    assert catalogue() == catalogue(3) == CATALOGUE + EMBEDDING_MODELS
