"""Lookups: generation records fetched per second from a gateway answering in a fixed time.

Two cases, each a row: 16 requests in flight against 50 ms, and 64 in flight against 200 ms
(both a 320/s ceiling; the second keeps four times as many lookups waiting at once). Both
sides look up the same IDs on the same simulator (``simulate --latency=…``). The baseline is
a bare httpx asyncio loop in this process; the exporter is the real CLI
(``--lookup.concurrency=…``, its rate limit raised out of the way) and counts from the moment
the IDs are posted to its intake until every lookup is committed to its store (its lookups
counter, outcome found, must then show every ID).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from bench.common import Process, Row, Simulator, exporter_cmd, log, metric_value
from bench.context import Context
from exporter.metrics import GENERATION_LOOKUPS
from tests.support.processes import free_port

T = TypeVar("T")

GOAL = 0.95
KEY = "bench-lookups-key"
IDS = 2400  # about 8 s a run at the 320/s ceiling, three runs a case


@dataclass(frozen=True)
class Case:
    """Requests in flight and the simulated gateway's fixed latency."""

    concurrency: int
    latency: float

    @property
    def ceiling(self) -> float:
        return self.concurrency / self.latency

    @property
    def tag(self) -> str:
        return f"c{self.concurrency}-l{self.latency * 1000:.0f}"


CASES = (Case(16, 0.05), Case(64, 0.2))


async def baseline(case: Case, url: str, ids: list[str]) -> float:
    """Lookups per second of ``case.concurrency`` workers doing nothing but the requests."""
    queue = list(reversed(ids))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while queue:
                gen_id = queue.pop()
                response = await client.get("/v1/generation", params={"id": gen_id})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(case.concurrency)))
        return len(ids) / (time.perf_counter() - started)


def exporter(case: Case, work: Path, sim: Simulator, ids: list[str]) -> tuple[float, Process]:
    port = free_port()
    proc = Process(
        exporter_cmd(
            f"--web.listen-address=127.0.0.1:{port}",
            f"--gateway.url={sim.url}",
            f"--state.path={work / 'state.db'}",
            f"--lookup.concurrency={case.concurrency}",
            "--lookup.rate=100000",
            "--lookup.initial-delay=0s",
            "--log.level=warn",
        ),
        work / "exporter.log",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{base}/readyz")
    deadline = time.monotonic() + 10 + len(ids) / 50  # far beyond any plausible run
    # Progress is read from the state file (a WAL reader never blocks the writer), not from
    # /metrics: frequent scrapes would take CPU from the very loop being measured.
    state = sqlite3.connect(f"file:{work / 'state.db'}?mode=ro", uri=True)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            started = time.perf_counter()
            client.post("/generations", json={"ids": ids}).raise_for_status()
            done = 0
            while time.monotonic() < deadline:
                done = state.execute("SELECT COUNT(*) FROM resolved").fetchone()[0]
                if done >= len(ids):
                    rate = len(ids) / (time.perf_counter() - started)
                    break
                time.sleep(0.02)
            else:
                raise TimeoutError(f"exporter resolved {done} of {len(ids)}:\n{proc.output()}")
            text = client.get("/metrics").text
    finally:
        state.close()
    found = metric_value(text, GENERATION_LOOKUPS.name, vercel_team="default", outcome="found")
    if found != len(ids):
        raise RuntimeError(f"{found:.0f} of {len(ids)} lookups found:\n{proc.output()}")
    return rate, proc


def _with_upstream_cpu(sim: Simulator, run: Callable[[], T]) -> tuple[T, float]:
    """``run()``, and the simulator's CPU meanwhile in cores: the upstream shares the cores."""
    before, started = sim.process.cpu_seconds(), time.monotonic()
    result = run()
    return result, (sim.process.cpu_seconds() - before) / (time.monotonic() - started)


def measure(ctx: Context, case: Case) -> Row:
    """One case: the baseline, the exporter, the baseline again (drift check)."""
    work = ctx.scratch(f"lookups-{case.tag}")
    sim = Simulator(work, f"--latency={case.latency}", "--ready-delay=0")
    count = int(IDS * min(ctx.scale, 1.0)) or 400
    proc: Process | None = None
    try:
        ids = sim.control("generations", {"count": count, "ready_after": 0}, KEY)["ids"]
        asyncio.run(baseline(case, sim.url, ids[: case.concurrency * 4]))  # warm-up
        theirs, theirs_cores = _with_upstream_cpu(
            sim, lambda: asyncio.run(baseline(case, sim.url, ids))
        )
        (ours, proc), ours_cores = _with_upstream_cpu(sim, lambda: exporter(case, work, sim, ids))
        theirs_again = asyncio.run(baseline(case, sim.url, ids))
        log(
            f"lookups {case.tag}: exporter {ours:.0f}/s, "
            f"httpx {theirs:.0f}/s then {theirs_again:.0f}/s"
        )
    finally:
        if proc is not None:
            proc.stop()
        sim.stop()
    base = (theirs + theirs_again) / 2
    return Row(
        "Lookups",
        f"lookups per second, {case.latency * 1000:.0f} ms gateway latency, "
        f"{case.concurrency} in flight, {count:,} IDs",
        ours,
        "lookups/s",
        "bare httpx asyncio loop, same requests",
        base,
        goal=f"≥ {GOAL}x",
        met=ours / base >= GOAL,
        note=f"ceiling {case.ceiling:.0f}/s",
        load_cpu=f"simulator {ours_cores:.2f} cores (baseline: {theirs_cores:.2f})",
    )


def run(ctx: Context) -> list[Row]:
    return [measure(ctx, case) for case in CASES]
