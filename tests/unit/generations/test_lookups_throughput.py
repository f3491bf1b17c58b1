"""The lookup scheduler keeps its slots busy and stops when told: the next due rows are read
while a round is still queued (a ``due`` query waits behind commits), and a cancel that lands
as an idle wait times out is not lost."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exporter.clock import SystemClock
from exporter.gateway.models import Generation
from exporter.generations import lookups
from exporter.generations.lookups import LookupScheduler, LookupSettings
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import AddIds, PendingRow
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter

LATENCY = 0.05  # each lookup, in real time
DUE_QUERY = 0.015  # each due query, in real time: well under one round of lookups
CONCURRENCY = 4


class SlowDue(Store):
    """A store whose due query takes a while, as it does behind a commit; it notes how many
    lookups were in flight when each query that found rows not asked for yet came back (rows
    already looked up stay pending until their outcomes' commit)."""

    def __init__(self, path: Path, gateway: Gateway) -> None:
        super().__init__(path)
        self.gateway = gateway
        self.in_flight_after: list[int] = []

    def due(self, team: str, now: float, limit: int) -> list[PendingRow]:
        rows = super().due(team, now, limit)
        time.sleep(DUE_QUERY)
        if any(row.id not in self.gateway.asked for row in rows):
            self.in_flight_after.append(self.gateway.in_flight)
        return rows


class Gateway:
    def __init__(self) -> None:
        self.in_flight = 0
        self.asked: list[str] = []

    async def generation(self, generation_id: str) -> Generation:
        self.asked.append(generation_id)
        self.in_flight += 1
        try:
            await asyncio.sleep(LATENCY)
        finally:
            self.in_flight -= 1
        return Generation(id=generation_id, model="m", provider_name="p")


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = SystemClock()
        self.gateway = Gateway()
        self.store = SlowDue(tmp_path / "state.db", self.gateway)
        self.mirror = SeriesMirror()
        self.writer = StateWriter(self.store, self.mirror, self.clock)
        self.scheduler = LookupScheduler(
            "prod",
            self.gateway,
            self.store,
            self.writer,
            Observer(LabelLimiter(10), LabelLimiter(10), LabelLimiter(10)),
            LookupSettings(concurrency=CONCURRENCY, rate=10_000, initial_delay=0),
            self.clock,
            asyncio.Event(),
            random.Random(1),
        )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    writer = asyncio.create_task(h.writer.run())
    yield h
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    h.store.close()


async def look_up_all(harness: Harness) -> None:
    """Run the scheduler until nothing is pending (10 s at most), then stop it."""
    task = asyncio.create_task(harness.scheduler.run())
    try:
        for _ in range(1000):
            if harness.mirror.pending.get("prod") == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_slots_stay_busy_while_the_next_rows_are_read(harness: Harness) -> None:
    ids = [f"gen_{n:026d}" for n in range(CONCURRENCY * 4 * 5)]
    await harness.writer.submit(AddIds("prod", "http", ids, harness.clock.steady()))
    await look_up_all(harness)
    assert sorted(harness.gateway.asked) == ids, "each looked up once"
    # The first query runs before any lookup; every later one that found rows must come
    # back to full slots. Read only once the queue ran dry, it found every slot idle.
    later = harness.store.in_flight_after[1:]
    assert later, "the rows took more than one query"
    assert all(n == CONCURRENCY for n in later), f"lookups in flight per query: {later}"


async def test_lookups_ending_within_the_linger_share_one_commit(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lookup's outcome had a commit of its own: a sync to disk per lookup. Those that end
    while the first waits (here all four rounds of them) are committed together."""
    monkeypatch.setattr(lookups, "COMMIT_LINGER", 2.0)  # far longer than the four rounds
    ids = [f"gen_{n:026d}" for n in range(CONCURRENCY * 4)]
    await harness.writer.submit(AddIds("prod", "http", ids, harness.clock.steady()))
    commits: list[int] = []
    commit = harness.store.commit

    def counted(ops: Any, *args: Any) -> Any:
        commits.append(len(ops))
        return commit(ops, *args)

    monkeypatch.setattr(harness.store, "commit", counted)
    await look_up_all(harness)
    assert sorted(harness.gateway.asked) == ids, "each looked up once"
    assert commits == [len(ids)]


async def test_a_cancel_as_the_idle_wait_times_out_stops_the_scheduler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lookups, "IDLE_WAIT", 0.002)  # nothing pending: many timeouts a second
    for attempt in range(40):
        task = asyncio.create_task(harness.scheduler.run())
        await asyncio.sleep(random.uniform(0.005, 0.02))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert done, f"still running 2 s after cancel (attempt {attempt})"
