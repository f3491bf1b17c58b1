"""The drain benchmark's deliveries and figures, checked in process before a minute of real
processes depends on them: the exporter counts every generation they carry from its span,
with its attempts and no lookup, and the rows say what the goals say."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bench import goals
from bench.common import metric_sum
from bench.drain import (
    ATTEMPTS,
    FAILED_ATTEMPT,
    PER_DELIVERY,
    Generation,
    Measured,
    check,
    deliveries,
    rows,
)
from exporter import routes
from exporter.assembly import Components, build
from exporter.clock import FakeClock
from exporter.config import load_config
from exporter.metrics import (
    DRAIN_TRACE_EVENTS,
    GENERATION_COST,
    GENERATION_LOOKUPS,
    PROVIDER_ATTEMPTS,
    Family,
)
from exporter.simulator.world import TeamWorld
from exporter.teams import resolve_teams
from tests.support.drain import SECRET

KEY = "vck_" + "b" * 40
CLOCK_START = 1_800_000_000.0


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Components]:
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET + "\n")
    config = load_config(
        None, {}, {"state.path": str(tmp_path / "state.db"), "drain.secret_file": str(secret)}
    )
    exp = build(config, resolve_teams(config, {"AI_GATEWAY_API_KEY": KEY}), FakeClock())
    writer = asyncio.create_task(exp.generations.writer.run())
    yield exp
    writer.cancel()
    await exp.generations.close()


def generations(count: int) -> list[Generation]:
    """Truth records as the simulator's control API gives them, made a minute before the
    exporter's clock (so their IDs are fresh to it)."""
    world = TeamWorld(name="bench", rng=random.Random(12), balance=Decimal(10_000))
    made = [world.generate(CLOCK_START - 60 + n / 1000, 0.0) for n in range(count)]
    return [generation.truth() for generation in made]


def committed(exp: Components, family: Family, **labels: str) -> int:
    """Observations (a histogram's) or increments (a counter's) committed to the series of
    ``family`` whose labels include ``labels``."""
    return sum(
        value.count
        for key, value in exp.generations.mirror.values.items()
        if key.metric == family.name and labels.items() <= dict(key.labels).items()
    )


async def test_every_generation_of_the_deliveries_is_counted_from_its_span(
    exporter: Components,
) -> None:
    records = generations(2 * PER_DELIVERY)
    bodies = deliveries(records)
    assert [gen_id for body in bodies for gen_id in check(body)] == [r["id"] for r in records]
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for body, headers in bodies:
            response = await client.post(routes.TRACES, content=body, headers=headers)
            assert response.status_code == 200, response.text

    total = len(records)
    assert committed(exporter, GENERATION_COST) == total
    assert committed(exporter, PROVIDER_ATTEMPTS) == total * ATTEMPTS
    assert committed(exporter, PROVIDER_ATTEMPTS, outcome=FAILED_ATTEMPT) == total
    assert committed(exporter, GENERATION_LOOKUPS) == 0
    assert exporter.generations.mirror.pending.get("default", 0) == 0  # nothing to look up
    assert exporter.generations.otlp.drain_counts.events[("default", "observed")] == total


def test_check_refuses_a_delivery_signed_with_another_secret() -> None:
    body, headers = deliveries(generations(PER_DELIVERY))[0]
    with pytest.raises(AssertionError, match="not signed"):
        check((body, {**headers, "x-vercel-signature": "0" * 40}))


def test_metric_sum_adds_every_series_with_the_labels() -> None:
    text = (
        f'{DRAIN_TRACE_EVENTS.name}{{result="observed",vercel_team="a"}} 3.0\n'
        f'{DRAIN_TRACE_EVENTS.name}{{result="observed",vercel_team="b"}} 4.0\n'
        f'{DRAIN_TRACE_EVENTS.name}{{result="stale",vercel_team="a"}} 5.0\n'
        f"{DRAIN_TRACE_EVENTS.name}_created 1.7e9\n"
    )
    assert metric_sum(text, DRAIN_TRACE_EVENTS.name) == 12
    assert metric_sum(text, DRAIN_TRACE_EVENTS.name, result="observed") == 7
    assert metric_sum(text, DRAIN_TRACE_EVENTS.name, result="observed", vercel_team="b") == 4
    assert metric_sum(text, DRAIN_TRACE_EVENTS.name, result="duplicate") == 0


def test_the_rows_hold_both_goals() -> None:
    lookups = Measured(30_000, 40.0, 45.0, "simulator 0.1 cores")  # 1,500 µs a generation
    fast = Measured(30_000, 30_000 / (goals.DRAIN_RATE * 1.2), 30_000 * 100e-6, "httpx 0.05 cores")
    rate, cpu = rows(fast, lookups)
    assert rate.met is True and rate.value == pytest.approx(goals.DRAIN_RATE * 1.2)
    assert cpu.value == pytest.approx(100.0) and cpu.baseline_value == pytest.approx(1500.0)
    assert cpu.ratio == pytest.approx(1 / 15) and cpu.met is True
    slow = Measured(
        30_000, 30_000 / (goals.DRAIN_RATE * 0.9), 30_000 * 1500e-6 * goals.DRAIN_CPU * 1.1, ""
    )
    rate, cpu = rows(slow, lookups)
    assert rate.met is False and cpu.met is False
