"""The catalog sources with a fake clock and scripted clients: what is published and for which
models, how health is shared by every team, top models by traffic, and the prices cache
savings are counted at (known, tiered, provider-specific, unknown)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.clock import FakeClock
from exporter.config import CatalogConfig, ConfigError, TeamConfig, load_config
from exporter.gateway.catalog_models import (
    CatalogModel,
    ModelList,
    Price,
    ProviderEndpoint,
    Tier,
)
from exporter.gateway.errors import GatewayError, NotFoundError, ServerError
from exporter.gateway.models import Generation
from exporter.metrics import (
    ALERT_MODEL_DEPRECATION,
    MODEL_DEPRECATION,
    MODEL_PROVIDER_STATUS,
    MODEL_PROVIDER_THROUGHPUT,
    MODEL_PROVIDER_TIME_TO_FIRST_TOKEN,
    MODEL_PROVIDER_UPTIME,
    MODEL_TOKEN_PRICE,
    MODEL_TOKEN_PRICE_TIER,
    MODEL_WEB_SEARCH_PRICE,
    SOURCE_UP,
)
from exporter.sources.catalog import (
    MAX_FIELD_WARNINGS,
    NO_CATALOG,
    NO_PRICE,
    UNKNOWN_MODEL,
    CatalogSnapshot,
    CatalogSource,
    PriceBook,
    ProvidersSource,
    TrafficRanking,
)
from exporter.sources.health import SourceHealthCollector
from exporter.sources.thresholds import ThresholdsCollector

GEN_ID = "gen_01KZ9QW3E5R7T9Y1V3J5P7Q9A2"
D = Decimal


def flat(**prices: str) -> dict[str, Price]:
    return {token_type: Price(D(value)) for token_type, value in prices.items()}


SONNET = CatalogModel(
    "anthropic/claude-sonnet-4.6",
    flat(input="0.000003", output="0.000015", cache_read="0.0000003", cache_write="0.00000375"),
    web_search=D("0.01"),
)
GEMINI = CatalogModel(
    "google/gemini-2.5-pro",
    {
        "input": Price(
            D("0.00000125"),
            (Tier(D("0.00000125"), 0, 200_000), Tier(D("0.0000025"), 200_000, None)),
        ),
        "cache_read": Price(
            None, (Tier(D("0.000000125"), 0, 200_000), Tier(D("0.00000025"), 200_000, None))
        ),
    },
    deprecated_at=D("1790000000.5"),
)
NO_CACHE_PRICE = CatalogModel("openai/gpt-5.4", flat(input="0.00000125", output="0.00001"))
UNUSED = CatalogModel(
    "meta/llama-4-maverick", flat(input="0.0000002"), deprecated_at=D(1), web_search=D("0.01")
)
BEDROCK = ProviderEndpoint(
    "bedrock",
    status=0,
    uptime={"15m": D("0.995"), "1h": D(1)},
    latency={"p50": D("0.814"), "p95": D("1.6737")},
    throughput={"p50": D("50.5")},
    prices={"input": D("0.0000033"), "cache_read": D("0.00000033")},
)


def generation(model: str | None, provider: str | None = "anthropic", **tokens: int) -> Generation:
    return Generation(
        id=GEN_ID,
        model=model,
        provider_name=provider,
        native_tokens_prompt=tokens.get("prompt", 10_000),
        native_tokens_cached=tokens.get("cached", 4_000),
    )


def book(*models: CatalogModel) -> PriceBook:
    return PriceBook(CatalogSnapshot.of(ModelList(models, 0)))


def test_savings_are_cached_tokens_times_input_minus_cache_read_price_exactly() -> None:
    saved = book(SONNET).cache_savings(generation(SONNET.id, cached=4_000))
    assert saved == 4_000 * (D("0.000003") - D("0.0000003")) == D("0.0108")


def test_the_serving_providers_own_price_wins_when_the_catalog_names_it() -> None:
    prices = book(SONNET)
    prices.providers = {SONNET.id: {"bedrock": BEDROCK}}
    assert prices.cache_savings(generation(SONNET.id, "bedrock", cached=1000)) == D("0.00297")
    # Another provider, or one whose answer lacks a price, pays the list price.
    assert prices.cache_savings(generation(SONNET.id, "anthropic", cached=1000)) == D("0.0027")
    prices.providers[SONNET.id]["anthropic"] = ProviderEndpoint("anthropic")
    assert prices.cache_savings(generation(SONNET.id, "anthropic", cached=1000)) == D("0.0027")
    assert prices.cache_savings(generation(SONNET.id, None, cached=1000)) == D("0.0027")


def test_a_tiered_model_is_priced_by_its_tier_for_the_prompts_size() -> None:
    prices = book(GEMINI)
    prices.providers = {GEMINI.id: {"anthropic": BEDROCK}}  # provider prices carry no tiers
    short = prices.cache_savings(generation(GEMINI.id, prompt=199_999, cached=1000))
    long = prices.cache_savings(generation(GEMINI.id, prompt=200_000, cached=1000))
    assert short == 1000 * (D("0.00000125") - D("0.000000125"))
    assert long == 1000 * (D("0.0000025") - D("0.00000025"))


def test_unknown_savings_say_why_and_are_never_guessed() -> None:
    assert PriceBook().cache_savings(generation(SONNET.id)) == NO_CATALOG
    prices = book(SONNET, GEMINI, NO_CACHE_PRICE)
    assert prices.cache_savings(generation("anthropic/claude-opus-9")) == UNKNOWN_MODEL
    assert prices.cache_savings(generation(None)) == UNKNOWN_MODEL
    assert prices.cache_savings(generation(NO_CACHE_PRICE.id)) == NO_PRICE
    unknown_size = Generation(id=GEN_ID, model=GEMINI.id, native_tokens_cached=10)
    assert prices.cache_savings(unknown_size) == NO_PRICE, "a tier needs the prompt's size"
    dearer = CatalogModel("x/y", flat(input="0.000001", cache_read="0.000002"))
    assert book(dearer).cache_savings(generation("x/y")) == NO_PRICE, "a counter never falls"


class FakeCatalog:
    """Scripted answers: ``models`` pops a ModelList or an error; ``endpoints`` answers from a
    dict per model (an exception is raised), and records what was asked."""

    def __init__(
        self,
        *answers: ModelList | GatewayError,
        endpoints: Mapping[str, list[ProviderEndpoint] | GatewayError] | None = None,
    ) -> None:
        self.answers = list(answers)
        self.endpoint_answers = dict(endpoints or {})
        self.asked: list[str] = []
        self.closed = False

    async def models(self) -> ModelList:
        answer = self.answers.pop(0)
        if isinstance(answer, GatewayError):
            raise answer
        return answer

    async def endpoints(self, model_id: str) -> list[ProviderEndpoint]:
        self.asked.append(model_id)
        answer = self.endpoint_answers.get(model_id, [])
        if isinstance(answer, GatewayError):
            raise answer
        return answer

    async def aclose(self) -> None:
        self.closed = True


TEAMS = ("prod", "dev")


def registry_of(*sources: CatalogSource | ProvidersSource) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SourceHealthCollector({source.name: source for source in sources}))
    for source in sources:
        for collector in source.collectors():
            registry.register(collector)
    return registry


def catalog_source(
    client: FakeCatalog,
    in_use: dict[str, int],
    prices: PriceBook | None = None,
    **config: object,
) -> tuple[CatalogSource, PriceBook, FakeClock]:
    clock = FakeClock()
    prices = prices or PriceBook()
    source = CatalogSource(
        client,
        prices,
        TEAMS,
        lambda: in_use,
        CatalogConfig.model_validate(config),
        clock,
        random.Random(1),
    )
    return source, prices, clock


async def test_prices_and_deprecations_only_for_models_in_use_or_configured() -> None:
    """Per token, per band and per web search call."""
    client = FakeCatalog(ModelList((SONNET, GEMINI, UNUSED, NO_CACHE_PRICE), skipped=0))
    in_use = {SONNET.id: 12, GEMINI.id: 3}
    source, prices, _ = catalog_source(client, in_use, models=[NO_CACHE_PRICE.id, "a/unlisted"])
    registry = registry_of(source)
    assert registry.get_sample_value(MODEL_TOKEN_PRICE.name, {"model": SONNET.id}) is None
    await source._poller.refresh()
    value = registry.get_sample_value
    price = MODEL_TOKEN_PRICE.name
    assert value(price, {"model": SONNET.id, "token_type": "cache_read"}) == 0.0000003
    assert value(price, {"model": NO_CACHE_PRICE.id, "token_type": "output"}) == 0.00001
    assert value(price, {"model": GEMINI.id, "token_type": "cache_read"}) == 0.000000125
    assert value(price, {"model": UNUSED.id, "token_type": "input"}) is None
    tiers = {
        (s.labels["token_type"], s.labels["min_tokens"], s.labels["max_tokens"]): s.value
        for family in registry.collect()
        if family.name == MODEL_TOKEN_PRICE_TIER.name
        for s in family.samples
    }
    assert tiers == {
        ("input", "0", "200000"): 0.00000125,
        ("input", "200000", "+Inf"): 0.0000025,
        ("cache_read", "0", "200000"): 0.000000125,
        ("cache_read", "200000", "+Inf"): 0.00000025,
    }
    assert value(MODEL_DEPRECATION.name, {"model": GEMINI.id}) == 1790000000.5
    assert value(MODEL_DEPRECATION.name, {"model": UNUSED.id}) is None
    search = MODEL_WEB_SEARCH_PRICE.name
    assert [value(search, {"model": m.id}) for m in (SONNET, GEMINI, UNUSED)] == [0.01, None, None]
    for team in TEAMS:
        assert value(SOURCE_UP.name, {"vercel_team": team, "source": "catalog"}) == 1
    assert prices.snapshot is not None and set(prices.snapshot.models) == {
        m.id for m in (SONNET, GEMINI, UNUSED, NO_CACHE_PRICE)
    }, "savings can price any listed model, published or not"


async def test_a_failed_read_keeps_the_last_prices_and_marks_every_team_down() -> None:
    client = FakeCatalog(ModelList((SONNET,), 0), ServerError("boom", status=500))
    source, prices, _ = catalog_source(client, {SONNET.id: 1})
    registry = registry_of(source)
    await source._poller.refresh()
    await source._poller.refresh()
    assert prices.snapshot is not None and SONNET.id in prices.snapshot.models
    value = registry.get_sample_value
    assert value(MODEL_TOKEN_PRICE.name, {"model": SONNET.id, "token_type": "input"}) == 0.000003
    assert [value(SOURCE_UP.name, {"vercel_team": t, "source": "catalog"}) for t in TEAMS] == [0, 0]
    assert "Last read failed: boom" in source.notes()[0]


async def test_unusable_catalog_data_is_logged_once_per_model_and_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = CatalogModel("a/b", {}, invalid_fields=("pricing.input", "deprecated_at"))
    client = FakeCatalog(ModelList((bad,), 2), ModelList((bad,), 2))
    source, _, _ = catalog_source(client, {})
    with caplog.at_level(logging.WARNING):
        await source._poller.refresh()
        await source._poller.refresh()
    unusable = [r for r in caplog.records if r.getMessage() == "catalog field unusable, ignored"]
    assert [r.__dict__["field"] for r in unusable] == ["pricing.input", "deprecated_at"]
    skipped = [r for r in caplog.records if "without a usable id" in r.getMessage()]
    assert len(skipped) == 1 and skipped[0].__dict__["count"] == 2


async def test_a_broken_catalog_logs_a_few_lines_not_thousands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 50,000-model catalog logged 134,000 warnings at once."""
    bad = tuple(
        CatalogModel(f"a/m{n}", {}, invalid_fields=("pricing.input", "deprecated_at"))
        for n in range(1000)
    )
    client = FakeCatalog(ModelList(bad, 0, dropped=45_000))
    source, _, _ = catalog_source(client, {})
    with caplog.at_level(logging.WARNING):
        await source._poller.refresh()
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count("catalog field unusable, ignored") == MAX_FIELD_WARNINGS
    (more,) = [r for r in caplog.records if r.getMessage().startswith("more catalog fields")]
    assert more.__dict__["count"] == 2000 - MAX_FIELD_WARNINGS
    assert "catalog lists more models than are read; the rest ignored" in lines


def test_the_landing_page_says_the_catalog_is_free_and_can_be_turned_off() -> None:
    source, _, _ = catalog_source(FakeCatalog(), {})
    (note,) = source.notes()
    assert "free (public, no key, not billed)" in note
    assert "every 1h" in note and "top 20 models every 5m" in note
    assert "--catalog.enabled=false" in note


def test_ranking_prefers_the_last_days_traffic_over_all_time() -> None:
    clock = FakeClock()
    ranking = TrafficRanking(clock, window=86400)
    assert ranking.rank({"old": 900, "new": 10, "b": 10}) == ["old", "b", "new"]
    clock.advance(43200)
    assert ranking.rank({"old": 901, "new": 300, "b": 10})[0] == "new"
    clock.advance(86400)
    # The first sample is now older than a day: the baseline moves to the second one.
    assert ranking.rank({"old": 1901, "new": 301, "b": 10}) == ["old", "new", "b"]


def providers_source(
    client: FakeCatalog, in_use: dict[str, int], prices: PriceBook, **config: object
) -> tuple[ProvidersSource, FakeClock, asyncio.Event]:
    clock = FakeClock()
    read = asyncio.Event()
    read.set()
    source = ProvidersSource(
        client,
        prices,
        TEAMS,
        lambda: in_use,
        read,
        CatalogConfig.model_validate(config),
        clock,
        random.Random(1),
    )
    return source, clock, read


async def test_provider_health_of_the_top_models_by_traffic() -> None:
    models = tuple(CatalogModel(f"m/{i}", {}) for i in range(5))
    prices = book(*models)
    client = FakeCatalog(endpoints={"m/3": [BEDROCK], "m/4": NotFoundError("gone")})
    in_use = {"m/0": 1, "m/1": 5, "m/3": 50, "m/4": 9, "other/unlisted": 99}
    source, _, _ = providers_source(client, in_use, prices, top_models=3, models=["m/2"])
    registry = registry_of(source)
    await source._poller.refresh()
    assert client.asked == ["m/3", "m/4", "m/1"], "ranked, listed in the catalog, top 3"
    value = registry.get_sample_value
    pair = {"model": "m/3", "provider": "bedrock"}
    assert value(MODEL_PROVIDER_UPTIME.name, {**pair, "window": "15m"}) == 0.995
    assert value(MODEL_PROVIDER_UPTIME.name, {**pair, "window": "1d"}) is None
    assert value(MODEL_PROVIDER_TIME_TO_FIRST_TOKEN.name, {**pair, "percentile": "p95"}) == 1.6737
    assert value(MODEL_PROVIDER_THROUGHPUT.name, {**pair, "percentile": "p50"}) == 50.5
    assert value(MODEL_PROVIDER_STATUS.name, pair) == 0
    assert prices.providers == {"m/3": {"bedrock": BEDROCK}, "m/4": {}, "m/1": {}}
    for team in TEAMS:
        assert value(SOURCE_UP.name, {"vercel_team": team, "source": "providers"}) == 1


async def test_providers_that_collide_once_made_safe_are_one_series() -> None:
    """Two provider names that differ only by a control character are one label value once
    made safe: published twice, the duplicate made Prometheus refuse the whole scrape."""
    prices = book(SONNET)
    twins = [replace(BEDROCK, provider="bed\x00rock"), replace(BEDROCK, provider="bed\x01rock")]
    client = FakeCatalog(endpoints={SONNET.id: twins})
    source, _, _ = providers_source(client, {SONNET.id: 1}, prices)
    await source._poller.refresh()
    text = generate_latest(registry_of(source)).decode()
    statuses = [line for line in text.splitlines() if line.startswith(MODEL_PROVIDER_STATUS.name)]
    assert len(statuses) == 1, statuses


async def test_configured_models_follow_those_in_use() -> None:
    prices = book(*(CatalogModel(f"m/{i}", {}) for i in range(3)))
    client = FakeCatalog()
    source, _, _ = providers_source(client, {"m/0": 4}, prices, models=["m/2", "m/1"])
    await source._poller.refresh()
    assert client.asked == ["m/0", "m/1", "m/2"]


async def test_a_failing_model_keeps_its_last_answer_until_stale_and_fails_the_refresh() -> None:
    prices = book(SONNET, GEMINI)
    client = FakeCatalog(endpoints={SONNET.id: [BEDROCK], GEMINI.id: [BEDROCK]})
    source, clock, _ = providers_source(
        client, {SONNET.id: 2, GEMINI.id: 1}, prices, health_interval="1m"
    )
    registry = registry_of(source)
    await source._poller.refresh()
    client.endpoint_answers[SONNET.id] = ServerError("down", status=503)
    clock.advance(60)
    await source._poller.refresh()
    value = registry.get_sample_value
    assert value(SOURCE_UP.name, {"vercel_team": "prod", "source": "providers"}) == 0
    sonnet = {"model": SONNET.id, "provider": "bedrock"}
    assert value(MODEL_PROVIDER_STATUS.name, sonnet) == 0, "the last answer, still fresh"
    assert prices.providers[SONNET.id] == {"bedrock": BEDROCK}, "still prices savings"
    clock.advance(121)
    await source._poller.refresh()
    assert value(MODEL_PROVIDER_STATUS.name, sonnet) is None, "withheld: 3 intervals old"
    assert value(MODEL_PROVIDER_STATUS.name, {"model": GEMINI.id, "provider": "bedrock"}) == 0
    assert source.notes() == ["Provider health: last refresh failed: down"]


async def test_provider_health_waits_for_the_catalogs_first_read() -> None:
    prices = PriceBook()
    client = FakeCatalog()
    source, _, read = providers_source(client, {"m/1": 1}, prices)
    read.clear()
    polling = asyncio.create_task(source._poller.refresh())
    await asyncio.sleep(0)
    assert not polling.done()
    prices.snapshot = CatalogSnapshot.of(ModelList((CatalogModel("m/1", {}),), 0))
    read.set()
    await polling
    assert client.asked == ["m/1"]


def test_catalog_options_and_the_deprecation_horizon_are_validated() -> None:
    config = load_config(
        None,
        {"AI_GATEWAY_EXPORTER_CATALOG_MODELS": "openai/gpt-5.4, meta/llama-4-maverick"},
        {"catalog.enabled": "false", "catalog.health_interval": "30s"},
    )
    assert config.catalog == CatalogConfig.model_validate(
        {
            "enabled": False,
            "health_interval": "30s",
            "models": ["openai/gpt-5.4", "meta/llama-4-maverick"],
        }
    )
    for flags, message in (
        ({"catalog.models": ["gpt-4"]}, "catalog.models[0]: 'gpt-4' is not a model ID"),
        ({"catalog.top_models": "101"}, "catalog.top_models: Input should be less than or equal"),
        ({"catalog.prices_interval": "10s"}, "catalog.prices_interval: must be at least 1m"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(None, {}, flags)
    team = TeamConfig.model_validate(
        {"name": "prod", "api_key_env": "K", "alerts": {"model_deprecation": "90d"}}
    )
    registry = CollectorRegistry()
    registry.register(ThresholdsCollector([team]))
    value = registry.get_sample_value(ALERT_MODEL_DEPRECATION.name, {"vercel_team": "prod"})
    assert value == 90 * 86400
