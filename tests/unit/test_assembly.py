"""The composition root: what ``build`` makes of a configuration, and that the catalog and the
pipeline share the series they both read without either reaching for the other."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from exporter import routes
from exporter.assembly import Components, build
from exporter.config import load_config
from exporter.gateway.catalog_models import CatalogModel, ModelList, Price
from exporter.generations.series import SeriesKey, SeriesValue
from exporter.metrics import GENERATION_REQUESTS, MODEL_TOKEN_PRICE, SOURCE_UP
from exporter.sources.catalog import CatalogSnapshot, CatalogSource
from exporter.sources.registry import source_of
from exporter.teams import resolve_teams

KEY = "vck_" + "k" * 40
MODEL = "anthropic/claude-sonnet-4.6"
Built = Callable[..., AbstractAsyncContextManager[Components]]


@pytest.fixture
def built(tmp_path: Path) -> Built:
    """``build`` of a configuration file of ``data`` with ``flags``, closed after use."""

    @asynccontextmanager
    async def make(data: dict[str, Any], **flags: Any) -> AsyncIterator[Components]:
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        config = load_config(path, {}, {"state.path": str(tmp_path / "state.db"), **flags})
        parts = build(config, resolve_teams(config, {"K": KEY, "AI_GATEWAY_API_KEY": KEY}))
        try:
            yield parts
        finally:
            await parts.generations.close()
            for source in parts.sources.values():
                await source.aclose()
            for client in parts.clients.values():
                await client.aclose()

    return make


async def get(parts: Components, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=parts.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path)


def samples(parts: Components, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in parts.registry.collect()
        for s in family.samples
        if s.name == name
    }


async def test_the_defaults_build_credits_and_the_catalog_for_the_one_team(built: Built) -> None:
    async with built({}) as parts:
        assert list(parts.sources) == ["credits", "catalog", "providers"]
        assert parts.credits is parts.sources["credits"]
        assert list(parts.clients) == ["default"]
        assert [key.describe() for key in parts.keys] == ["$AI_GATEWAY_API_KEY"]
        assert parts.password_check is None
        assert set(samples(parts, SOURCE_UP.name)) == {
            (("source", name), ("vercel_team", "default"))
            for name in ("credits", "catalog", "providers")
        }
        assert (await get(parts, routes.READYZ)).json()["waiting_for"] == ["default"]


async def test_configured_sources_and_secret_files_are_built_and_reloadable(
    built: Built, tmp_path: Path
) -> None:
    token, ingest = tmp_path / "vercel.token", tmp_path / "ingest.token"
    token.write_text("vercel-token-0123456789\n")
    ingest.write_text("ingest-token-0123456789\n")
    report = {"name": "by-model", "group_by": "model", "window": "today"}
    teams = [
        {"name": "prod", "api_key_env": "K", "reports": [report]},
        {"name": "dev", "api_key_env": "K", "budgets": {"token_file": str(token), "team_id": "t"}},
    ]
    flags = {"catalog.enabled": "false", "ingest.token_file": str(ingest)}
    async with built({"teams": teams}, **flags) as parts:
        assert list(parts.sources) == ["credits", "reports", "budgets"]
        assert [key.describe() for key in parts.keys] == ["$K", "$K", str(token), str(ingest)]
        assert set(samples(parts, SOURCE_UP.name)) == {
            (("source", "credits"), ("vercel_team", "prod")),
            (("source", "credits"), ("vercel_team", "dev")),
            (("source", "reports"), ("vercel_team", "prod")),
            (("source", "budgets"), ("vercel_team", "dev")),
        }
        notes = (await get(parts, routes.LANDING)).text
        assert "Custom Reporting, team prod" in notes and "Model catalog" not in notes


async def test_the_catalog_prices_the_models_the_pipeline_committed(built: Built) -> None:
    async with built({}) as parts:
        catalog = source_of(parts.sources, CatalogSource)
        catalog._book.snapshot = CatalogSnapshot.of(
            ModelList((CatalogModel(MODEL, {"input": Price(Decimal("0.000003"))}),), 0)
        )
        assert not samples(parts, MODEL_TOKEN_PRICE.name), "no traffic yet: nothing in use"
        key = SeriesKey(GENERATION_REQUESTS.name, (("model", MODEL), ("vercel_team", "default")))
        parts.generations.mirror.values[key] = SeriesValue(total=Decimal(1))  # a commit
        assert samples(parts, MODEL_TOKEN_PRICE.name) == {
            (("model", MODEL), ("token_type", "input")): 0.000003
        }


async def test_with_the_catalog_off_lookups_do_not_wait_for_prices(built: Built) -> None:
    async with built({}, **{"catalog.enabled": "false"}) as parts:
        assert list(parts.sources) == ["credits"]
        pricing = parts.generations._pricing
        assert pricing is not None and pricing.ready.is_set()
