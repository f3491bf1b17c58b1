"""The lookup scheduler against a scripted gateway and the fake clock: made-up IDs can neither
hold real ones back nor make the exporter call the gateway without bound, and a wall clock
that jumps neither strands nor abandons anything."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.gateway.errors import AuthError, NotFoundError, ServerError
from exporter.gateway.models import Generation
from exporter.generations.lookups import BUDGET_BURST_SECONDS, LookupScheduler, LookupSettings
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import AddIds
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter
from exporter.metrics import GENERATION_IDS_ABANDONED, GENERATION_LOOKUP_RETRIES_DEFERRED

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def made_up(count: int, prefix: str = "F") -> list[str]:
    return [f"gen_{prefix}{n:025d}" for n in range(count)]


REAL = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"
MADE_UP = 250  # enough to spend the retry budget's burst several times over


class Gateway:
    """Knows only the real IDs; records when each lookup was asked for (steady time). IDs in
    ``foreign`` belong to another team: they are refused with a 403. Until ``until`` (steady
    time) it is down: 503 for everything."""

    def __init__(
        self,
        clock: FakeClock,
        real: set[str],
        foreign: frozenset[str] = frozenset(),
        until: float = 0.0,
    ):
        self.clock = clock
        self.real = real
        self.foreign = foreign
        self.until = until
        self.asked: list[tuple[str, float]] = []

    async def generation(self, generation_id: str) -> Generation:
        self.asked.append((generation_id, self.clock.steady()))
        await asyncio.sleep(0)
        if self.clock.steady() < self.until:
            raise ServerError("Service unavailable", status=503)
        if generation_id in self.real:
            return Generation(id=generation_id, model="m", provider_name="p")
        if generation_id in self.foreign:
            raise AuthError("API key rejected for team prod (403: forbidden)", status=403)
        raise NotFoundError("not found", status=404)


class Credits:
    """What the team's credits polls say (the scheduler's CreditsView)."""

    def __init__(self, misdirected: bool = False, key_accepted: bool = True) -> None:
        self.misdirected = misdirected
        self.key_accepted = key_accepted


class Harness:
    def __init__(
        self,
        tmp_path: Path,
        settings: LookupSettings,
        real: set[str],
        credits: Credits | None = None,
        foreign: frozenset[str] = frozenset(),
        down_for: float = 0.0,
    ) -> None:
        self.clock = FakeClock()
        self.store, self.mirror = Store(tmp_path / "state.db"), SeriesMirror()
        self.writer = StateWriter(self.store, self.mirror, self.clock)
        self.gateway = Gateway(self.clock, real, foreign, self.clock.steady() + down_for)
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
            credits=credits,
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

    def make(settings: LookupSettings, real: set[str], **extra: Any) -> Harness:
        harness = Harness(tmp_path, settings, real, **extra)
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
    await h.add(made_up(MADE_UP))
    started = h.clock.monotonic()
    # Each leaves on its fifth 404, past its max age, asked for when the budget pays: ~1,000 s.
    await h.run_until(lambda: h.mirror.pending.get("prod", 0) == 0, step=2.0)
    elapsed = h.clock.monotonic() - started
    retries = len(h.gateway.asked) - MADE_UP
    bound = settings.retry_budget * (elapsed + BUDGET_BURST_SECONDS)
    assert {gen_id for gen_id, _ in h.gateway.asked} == set(made_up(MADE_UP)), "each looked up"
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


def abandoned(h: Harness, reason: str) -> Decimal:
    keys = [k for k in h.mirror.values if k.metric == GENERATION_IDS_ABANDONED.name]
    return sum(
        (h.mirror.values[k].total for k in keys if dict(k.labels)["reason"] == reason), Decimal(0)
    )


async def test_a_wrong_url_holds_lookups_instead_of_spending_their_retries(
    writer_running: Callable[..., Harness],
) -> None:
    """While credits find no API at the URL, nothing is looked up; once they do, every ID is
    looked up once and found."""
    credits = Credits(misdirected=True)
    h = writer_running(LookupSettings(concurrency=8, rate=20, max_age=900), {REAL}, credits=credits)
    await h.add([REAL, *made_up(50)])
    await h.run_until(lambda: h.clock.monotonic() > 1000 + 600)
    assert h.gateway.asked == [], "held: not one lookup against a URL that leads nowhere"
    assert h.mirror.pending.get("prod") == 51
    credits.misdirected = False
    await h.run_until(lambda: any(gen_id == REAL for gen_id, _ in h.gateway.asked))
    assert abandoned(h, "not_found") == 0


async def test_a_403_for_another_teams_generation_stalls_nothing(
    writer_running: Callable[..., Harness],
) -> None:
    foreign = frozenset(made_up(3, prefix="X"))
    h = writer_running(
        LookupSettings(concurrency=1, rate=20), {REAL}, credits=Credits(), foreign=foreign
    )
    await h.add(sorted(foreign))
    h.clock.advance(0.5)
    await h.add([REAL])
    await h.run_until(lambda: h.mirror.pending.get("prod", 0) == 0, step=0.01)
    times = [at for _, at in h.gateway.asked]
    # Paused a minute per refusal, the four lookups would spread over more than two minutes.
    assert max(times) - min(times) < 60, "no 60 s pause of the whole team per refusal"
    assert abandoned(h, "forbidden") == 3
    assert [gen_id for gen_id, _ in h.gateway.asked].count(REAL) == 1


async def test_real_ids_wait_out_an_outage_longer_than_their_max_age(
    writer_running: Callable[..., Harness],
) -> None:
    """Before: 90 s of 503s at 20 IDs/s lost 630 of 1,800 real generations, given up as
    not_found at their max age though the gateway never answered 404."""
    settings = LookupSettings(concurrency=8, rate=20, max_age=300, retry_budget=1)
    real = made_up(200, prefix="R")
    h = writer_running(settings, set(real), down_for=1800)
    await h.add(real)
    await h.run_until(lambda: h.mirror.pending.get("prod", 0) == 0, step=2.0)
    assert h.clock.steady() >= h.gateway.until, "nothing settled during the outage"
    found = sum(
        h.mirror.values[key].total
        for key in h.mirror.values
        if dict(key.labels).get("outcome") == "found"
    )
    assert found == len(real)
    assert all(abandoned(h, reason) == 0 for reason in ("not_found", "max_age"))
