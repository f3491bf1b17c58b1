"""The lookup scheduler against a scripted gateway and the fake clock: made-up IDs can neither
hold real ones back nor make the exporter call the gateway without bound, and a wall clock
that jumps neither strands nor abandons anything."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from exporter.clock import FakeClock
from exporter.gateway.errors import NotFoundError
from exporter.gateway.models import Generation
from exporter.generations.lookups import BUDGET_BURST_SECONDS, LookupScheduler, LookupSettings
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.store import AddIds, SeriesMirror, StateWriter, Store
from exporter.metrics import GENERATION_LOOKUP_RETRIES_DEFERRED

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def made_up(count: int, prefix: str = "F") -> list[str]:
    return [f"gen_{prefix}{n:025d}" for n in range(count)]


REAL = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"


class Gateway:
    """Knows only the real IDs; records when each lookup was asked for (steady time)."""

    def __init__(self, clock: FakeClock, real: set[str]) -> None:
        self.clock = clock
        self.real = real
        self.asked: list[tuple[str, float]] = []

    async def generation(self, generation_id: str) -> Generation:
        self.asked.append((generation_id, self.clock.steady()))
        await asyncio.sleep(0)
        if generation_id in self.real:
            return Generation(id=generation_id, model="m", provider_name="p")
        raise NotFoundError("not found", status=404)


class Harness:
    def __init__(self, tmp_path: Path, settings: LookupSettings, real: set[str]) -> None:
        self.clock = FakeClock()
        self.store, self.mirror = Store(tmp_path / "state.db"), SeriesMirror()
        self.writer = StateWriter(self.store, self.mirror, self.clock)
        self.gateway = Gateway(self.clock, real)
        self.scheduler = LookupScheduler(
            "prod",
            self.gateway,
            self.store,
            self.writer,
            Observer(LabelLimiter(10), LabelLimiter(10), LabelLimiter(10)),
            settings,
            self.clock,
            asyncio.Event(),
            random.Random(1),
        )

    async def add(self, ids: list[str]) -> None:
        due = self.clock.steady() + 5
        await self.writer.submit(AddIds("prod", "http", ids, due))

    async def run_until(self, done: Callable[[], bool], step: float = 0.5) -> None:
        """Run the scheduler, moving the fake clock on while it idles, until ``done``."""
        tasks = [asyncio.create_task(self.scheduler.run())]
        try:
            for _ in range(20_000):
                if done():
                    return
                self.clock.advance(step)
                await asyncio.sleep(0.001)
            raise AssertionError("the scheduler never got there")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def writer_running(tmp_path: Path) -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []
    tasks: list[asyncio.Task[None]] = []

    def make(settings: LookupSettings, real: set[str]) -> Harness:
        harness = Harness(tmp_path, settings, real)
        made.append(harness)
        tasks.append(asyncio.create_task(harness.writer.run()))
        return harness

    yield make
    for task in tasks:
        task.cancel()
    for harness in made:
        harness.store.close()


async def test_a_burst_of_made_up_ids_does_not_hold_a_real_one_back(
    writer_running: Callable[..., Harness],
) -> None:
    h = writer_running(LookupSettings(concurrency=8, rate=20, retry_budget=5), {REAL})
    await h.add(made_up(2000))
    h.clock.advance(1)
    await h.add([REAL])
    await h.run_until(lambda: any(gen_id == REAL for gen_id, _ in h.gateway.asked), step=0.01)
    ahead = [gen_id for gen_id, _ in h.gateway.asked].index(REAL)
    # In order of arrival it would wait behind 2,000 lookups: 100 s at 20 a second.
    assert ahead <= 40, f"{ahead} lookups ahead of it ({ahead / 20:.1f} s at 20 a second)"


async def test_made_up_ids_cost_one_lookup_each_plus_the_retry_budget(
    writer_running: Callable[..., Harness],
) -> None:
    settings = LookupSettings(concurrency=8, rate=20, max_age=300, retry_budget=1)
    h = writer_running(settings, set())
    await h.add(made_up(1000))
    started = h.clock.monotonic()
    await h.run_until(lambda: h.mirror.pending.get("prod", 0) == 0, step=0.05)
    elapsed = h.clock.monotonic() - started
    retries = len(h.gateway.asked) - 1000
    bound = settings.retry_budget * (elapsed + BUDGET_BURST_SECONDS)
    assert {gen_id for gen_id, _ in h.gateway.asked} == set(made_up(1000)), "each looked up"
    assert retries <= bound, f"{retries} retries in {elapsed:.0f} s, budget {bound:.0f}"
    deferred = sum(
        value.total
        for key, value in h.mirror.values.items()
        if key.metric == GENERATION_LOOKUP_RETRIES_DEFERRED.name
    )
    assert deferred > 0, "the retries the budget could not pay for are counted"


async def test_a_wall_clock_set_back_strands_nothing(
    writer_running: Callable[..., Harness],
) -> None:
    h = writer_running(LookupSettings(concurrency=8, rate=20), {REAL})
    await h.add([REAL])
    h.clock.jump(-3600)
    await h.run_until(lambda: bool(h.gateway.asked))
    assert h.gateway.asked[0][1] - h.clock.steady() < 1


async def test_a_wall_clock_set_forward_abandons_nothing_early(
    writer_running: Callable[..., Harness],
) -> None:
    h = writer_running(LookupSettings(concurrency=8, rate=20, max_age=900), {REAL})
    await h.add([REAL])
    h.clock.jump(+3600)
    await h.run_until(lambda: bool(h.gateway.asked))
    await h.run_until(lambda: h.mirror.pending.get("prod", 0) == 0)
    found = [key for key in h.mirror.values if dict(key.labels).get("outcome") == "found"]
    assert found and h.mirror.values[found[0]].total == 1
