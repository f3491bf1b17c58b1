"""The source registry: which sources the configuration turns on, what ``build`` makes of
them, and one ``source_up`` row per built source and team, under its registered name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from exporter.clock import FakeClock
from exporter.config import Config, load_config
from exporter.gateway.client import GatewayClient
from exporter.metrics import SOURCE_UP, ApiMetrics
from exporter.sources.base import Source
from exporter.sources.catalog import CatalogSource, PriceBook, ProvidersSource
from exporter.sources.credits import CreditsSource
from exporter.sources.health import Health, SourceHealthCollector
from exporter.sources.registry import (
    SOURCES,
    SourceContext,
    SourceRegistry,
    source_of,
)
from exporter.teams import Team, resolve_teams

KEY = "vck_" + "k" * 40
REPORT = {"name": "by-model", "group_by": "model", "window": "today"}
EVERY = ["credits", "reports", "budgets", "catalog", "providers"]


def configured(tmp_path: Path, *teams: dict[str, Any], **flags: Any) -> tuple[Config, list[Team]]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"teams": [{"api_key_env": "K", **t} for t in teams]}))
    config = load_config(path, {}, flags)
    return config, resolve_teams(config, {"K": KEY})


def budgets(tmp_path: Path) -> dict[str, Any]:
    token = tmp_path / "vercel-token"
    token.write_text("vercel-token-0123456789\n")
    return {"token_file": str(token), "team_id": "team_a1"}


@pytest.fixture
async def built(tmp_path: Path) -> AsyncIterator[Mapping[str, Source]]:
    """Every source on: prod with reports and budgets, dev with neither."""
    config, teams = configured(
        tmp_path,
        {"name": "prod", "reports": [REPORT], "budgets": budgets(tmp_path)},
        {"name": "dev"},
    )
    api_metrics = ApiMetrics(CollectorRegistry())
    clients = {t.name: GatewayClient(t.name, config.gateway.url, t.key, api_metrics) for t in teams}
    context = SourceContext(config, teams, clients, api_metrics, FakeClock(), PriceBook(), dict)
    sources = SOURCES.build(context)
    yield sources
    for source in sources.values():
        await source.aclose()
    for client in clients.values():
        await client.aclose()


def test_credits_and_the_catalog_are_on_by_default_the_rest_where_configured(
    tmp_path: Path,
) -> None:
    config, teams = configured(tmp_path, {"name": "prod"})
    assert SOURCES.enabled(config, teams) == ["credits", "catalog", "providers"]
    config, teams = configured(tmp_path, {"name": "prod"}, {"name": "dev", "reports": [REPORT]})
    assert SOURCES.enabled(config, teams) == ["credits", "reports", "catalog", "providers"]
    config, teams = configured(tmp_path, {"name": "prod", "budgets": budgets(tmp_path)})
    assert SOURCES.enabled(config, teams) == ["credits", "budgets", "catalog", "providers"]
    config, teams = configured(tmp_path, {"name": "prod"}, **{"catalog.top_models": "0"})
    assert SOURCES.enabled(config, teams) == ["credits", "catalog"]
    config, teams = configured(tmp_path, {"name": "prod"}, **{"catalog.enabled": "false"})
    assert SOURCES.enabled(config, teams) == ["credits"], "no providers without the catalog"


async def test_build_makes_the_enabled_sources_by_their_registered_names(
    built: Mapping[str, Source], tmp_path: Path
) -> None:
    assert list(built) == EVERY
    assert all(source.name == name for name, source in built.items())
    assert isinstance(source_of(built, CreditsSource), CreditsSource)
    secrets = [key.describe() for source in built.values() for key in source.secrets()]
    assert secrets == [str(tmp_path / "vercel-token")], "what a reload reads again"
    tasks = [work for source in built.values() for work in source.tasks()]
    # Credits poll per team; reports and budgets per team that has them; the catalog and
    # the providers once for every team.
    assert len(tasks) == 2 + 1 + 1 + 1 + 1
    for work in tasks:
        work.close()


async def test_the_providers_share_the_catalogs_client_and_lookups_wait_for_both(
    built: Mapping[str, Source],
) -> None:
    catalog = source_of(built, CatalogSource)
    providers = source_of(built, ProvidersSource)
    assert providers._client is catalog.client, "one client for the public catalog"
    assert providers._catalog_read is catalog.state.attempted
    prices = providers._book
    assert prices is catalog._book
    assert prices.ready is providers.state.attempted, "its first poll follows the catalog's"
    assert not prices.ready.is_set()


def test_a_book_no_source_fills_has_nothing_to_wait_for() -> None:
    assert PriceBook().ready.is_set(), "with the catalog off, lookups start at once"


def test_source_up_has_a_row_per_built_source_and_team(built: Mapping[str, Source]) -> None:
    registry = CollectorRegistry()
    registry.register(SourceHealthCollector(built))
    rows = {
        (s.labels["source"], s.labels["vercel_team"]): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == SOURCE_UP.name
    }
    assert rows == {
        ("credits", "prod"): 0,
        ("credits", "dev"): 0,
        ("reports", "prod"): 0,
        ("budgets", "prod"): 0,
        ("catalog", "prod"): 0,
        ("catalog", "dev"): 0,
        ("providers", "prod"): 0,
        ("providers", "dev"): 0,
    }


class Fake(Source):
    name = "fake"

    def __init__(self, teams: Sequence[str]) -> None:
        self._health = {team: Health() for team in teams}

    @property
    def health(self) -> Mapping[str, Health]:
        return self._health

    def collectors(self) -> Sequence[Collector]:
        return []


def test_a_registry_builds_in_order_only_what_is_enabled_with_what_was_built_before(
    tmp_path: Path,
) -> None:
    config, teams = configured(tmp_path, {"name": "prod"}, **{"catalog.enabled": "false"})
    seen: list[list[str]] = []

    def make(context: SourceContext, before: Mapping[str, Source]) -> Source:
        seen.append(list(before))
        return Fake([team.name for team in context.teams])

    registry = SourceRegistry()
    registry.register("first", lambda config, teams: True, make)
    registry.register("off", lambda config, teams: config.catalog.enabled, make)
    registry.register("second", lambda config, teams: True, make)
    with pytest.raises(ValueError, match="'second' is registered twice"):
        registry.register("second", lambda config, teams: True, make)
    context = SourceContext(
        config, teams, {}, ApiMetrics(CollectorRegistry()), FakeClock(), PriceBook(), dict
    )
    sources = registry.build(context)
    assert list(sources) == ["first", "second"]
    assert seen == [[], ["first"]]
    collector = SourceHealthCollector(sources)
    up = next(iter(collector.collect()))
    assert [(s.labels["source"], s.value) for s in up.samples] == [("first", 0), ("second", 0)]
    with pytest.raises(TypeError, match="source 'credits' is a Fake, not CreditsSource"):
        source_of({"credits": sources["first"]}, CreditsSource)
