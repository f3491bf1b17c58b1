"""Cache savings as generation observations: counted with the lookup's resolution in one
transaction (so exactly once, across restarts), unknown ones counted by reason, and the
simulator's ground truth matched exactly by the exporter's own arithmetic on what the
simulator publishes."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.config import Config, StateConfig
from exporter.gateway.catalog_models import ModelList, parse_endpoints, parse_models
from exporter.gateway.client import GatewayClient
from exporter.gateway.models import Generation, load_json, parse_generation
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import AddIds, Resolve
from exporter.generations.pipeline import GenerationPipeline
from exporter.generations.series import Delta
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter
from exporter.metrics import (
    GENERATION_CACHE_SAVINGS,
    GENERATION_CACHE_SAVINGS_UNKNOWN,
    ApiMetrics,
)
from exporter.simulator.catalog import SimCatalog, catalogue
from exporter.simulator.responses import json_response
from exporter.simulator.world import TeamWorld
from exporter.sources.catalog import CatalogSnapshot, PriceBook
from tests.unit.sources.test_catalog import SONNET

GEN_ID = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"


def observer(prices: PriceBook | None) -> Observer:
    return Observer(LabelLimiter(10), LabelLimiter(10), LabelLimiter(10), pricing=prices)


def sonnet_book() -> PriceBook:
    return PriceBook(CatalogSnapshot.of(ModelList((SONNET,), 0)))


def savings(deltas: list[Delta]) -> list[tuple[str, dict[str, str], Decimal]]:
    wanted = (GENERATION_CACHE_SAVINGS, GENERATION_CACHE_SAVINGS_UNKNOWN)
    return [(d.metric.name, dict(d.labels), d.value) for d in deltas if d.metric in wanted]


def gen(model: str, cached: int | None) -> Generation:
    return Generation(
        id=GEN_ID,
        model=model,
        provider_name="anthropic",
        native_tokens_prompt=5000,
        native_tokens_cached=cached,
    )


def test_a_generation_with_cached_tokens_adds_its_savings_by_model_and_provider() -> None:
    (found,) = savings(observer(sonnet_book()).deltas("prod", gen(SONNET.id, 1000)))
    labels = {
        "vercel_team": "prod",
        "model": SONNET.id,
        "provider": "anthropic",
        "operation": "unknown",
    }
    assert found == (GENERATION_CACHE_SAVINGS.name, labels, Decimal("0.0027"))


def test_unknown_savings_are_counted_by_reason_not_guessed() -> None:
    deltas = observer(sonnet_book()).deltas("prod", gen("acme/private", 1000))
    labels = {"vercel_team": "prod", "model": "acme/private", "reason": "unknown_model"}
    assert savings(deltas) == [(GENERATION_CACHE_SAVINGS_UNKNOWN.name, labels, Decimal(1))]
    before_catalog = observer(PriceBook()).deltas("prod", gen(SONNET.id, 1000))
    assert savings(before_catalog)[0][1]["reason"] == "no_catalog"


def test_nothing_cached_or_no_catalog_at_all_counts_no_savings() -> None:
    for cached in (0, None):
        assert savings(observer(sonnet_book()).deltas("prod", gen(SONNET.id, cached))) == []
    assert savings(observer(None).deltas("prod", gen(SONNET.id, 1000))) == []


async def test_savings_commit_with_the_resolution_once_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "state.db"
    store, mirror = Store(path), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    task = asyncio.create_task(writer.run())
    await writer.submit(AddIds("prod", "http", [GEN_ID], 0.0))
    (row,) = store.due("prod", clock.time(), 10)
    deltas = observer(sonnet_book()).deltas("prod", gen(SONNET.id, 1000))
    await writer.submit(Resolve(row, "found", deltas))
    await writer.submit(Resolve(row, "found", deltas))  # a second resolution changes nothing
    task.cancel()
    key = next(k for k in mirror.values if k.metric == GENERATION_CACHE_SAVINGS.name)
    assert mirror.values[key].total == Decimal("0.0027")
    store.close()
    reopened, restored = Store(path), SeriesMirror()
    reopened.load(restored)
    assert restored.values[key].total == Decimal("0.0027"), "persisted, exact"
    reopened.close()


def wire(body: object) -> object:
    """``body`` sent as the simulator sends it and read as the exporter's client reads it."""
    return load_json(bytes(json_response(body).body))


def book_from_what_the_simulator_publishes(catalog: SimCatalog, now: float) -> PriceBook:
    """The exporter's price book, built only from the simulator's two public answers as the
    exporter's client reads them off the wire."""

    prices = PriceBook(CatalogSnapshot.of(parse_models(wire(catalog.models_answer()))))
    assert prices.snapshot is not None
    for model_id in prices.snapshot.models:
        status, body = catalog.endpoints_answer(model_id, now)
        assert status == 200
        prices.providers[model_id] = {e.provider: e for e in parse_endpoints(wire(body))}
    return prices


def test_the_exporters_savings_equal_the_simulators_truth_exactly() -> None:
    catalog = SimCatalog(catalogue(), started=1_800_000_000.0)
    world = TeamWorld("prod", random.Random(3), Decimal(1000), catalog=catalog)
    for _ in range(600):
        world.generate(1_800_000_100.0, 0.0)
    prices = book_from_what_the_simulator_publishes(catalog, 1_800_000_100.0)
    counted, unknown, tiers, marked_up = Decimal(0), 0, 0, 0
    truth = Decimal(0)
    for sim in world.generations.values():
        record = parse_generation(wire({"data": sim.record()}))
        if not record.native_tokens_cached:
            assert sim.cache_savings is None
            continue
        saved = prices.cache_savings(record)
        if isinstance(saved, str):
            assert saved == "unknown_model" and sim.cache_savings is None
            unknown += 1
            continue
        assert saved == sim.cache_savings, sim.id
        counted += saved
        truth += sim.cache_savings
        tiers += sim.model == "google/gemini-2.5-flash" and sim.tokens_prompt >= 2000
        marked_up += sim.provider_name in ("bedrock", "vertex", "azure")
    assert counted == truth > 0
    assert unknown and tiers and marked_up, "the sample covers each way of pricing"


class HeldClock(FakeClock):
    """A fake clock whose sleeps last until the test lets them end."""

    def __init__(self) -> None:
        super().__init__()
        self.elapsed = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.elapsed.wait()


async def test_lookups_start_once_the_first_reads_were_made_or_the_wait_is_over(
    tmp_path: Path,
) -> None:
    started: list[str] = []

    async def lookups() -> None:
        started.append("lookups")

    async def turns() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    client = GatewayClient("prod", "http://127.0.0.1:9", None, ApiMetrics(CollectorRegistry()))
    clients = {"prod": client}  # never called: no lookup runs here
    for release in ("first reads made", "wait over"):
        # As a catalog source leaves the book until its first read, and the credits poller
        # its team's health until its first poll.
        clock, prices, polled = HeldClock(), PriceBook(ready=asyncio.Event()), asyncio.Event()
        config = Config(state=StateConfig(path=tmp_path / f"{release}.db"))
        pipeline = GenerationPipeline(config, clients, clock, SeriesMirror(), pricing=prices)
        task = asyncio.create_task(pipeline._after(lookups, prices.ready, polled))
        await turns()
        assert started == [], "IDs resumed at start would be counted before any price"
        if release == "first reads made":
            prices.ready.set()
            await turns()
            assert started == [], "lookups would go out before the key was known to work"
            polled.set()
        else:
            clock.elapsed.set()
        await task
        assert started == ["lookups"], release
        started.clear()
        pipeline.store.close()
    config = Config(state=StateConfig(path=tmp_path / "unpriced.db"))
    unpriced = GenerationPipeline(config, clients, HeldClock(), SeriesMirror())
    await unpriced._after(lookups)
    assert started == ["lookups"], "with no first read to follow, nothing is waited for"
    unpriced.store.close()
    await client.aclose()
