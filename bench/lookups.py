"""Lookups: generation records fetched per second from a gateway answering in a fixed 50 ms.

Both sides look up the same IDs on the same simulator (``simulate --latency=0.05``) with 16
requests in flight. The baseline is a bare httpx asyncio loop in this process; the exporter is
the real CLI (``--lookup.concurrency=16``, its rate limit raised out of the way) and counts
from the moment the IDs are posted to its intake until every lookup is committed to its store
(its lookups counter, outcome found, must then show every ID).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import httpx

from bench.common import Process, Row, Simulator, exporter_cmd, log, metric_value
from bench.context import Context
from exporter.metrics import GENERATION_LOOKUPS
from tests.support.processes import free_port

LATENCY = 0.05
CONCURRENCY = 16
GOAL = 0.9
KEY = "bench-lookups-key"


async def baseline(url: str, ids: list[str]) -> float:
    """Lookups per second of ``CONCURRENCY`` workers doing nothing but the requests."""
    queue = list(reversed(ids))
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while queue:
                gen_id = queue.pop()
                response = await client.get("/v1/generation", params={"id": gen_id})
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return len(ids) / (time.perf_counter() - started)


def exporter(ctx: Context, sim: Simulator, ids: list[str]) -> tuple[float, Process]:
    work = ctx.workdir / "lookups"
    port = free_port()
    proc = Process(
        exporter_cmd(
            f"--web.listen-address=127.0.0.1:{port}",
            f"--gateway.url={sim.url}",
            f"--state.path={work / 'state.db'}",
            f"--lookup.concurrency={CONCURRENCY}",
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


def run(ctx: Context) -> list[Row]:
    work = ctx.workdir / "lookups"
    work.mkdir(parents=True, exist_ok=True)
    sim = Simulator(work, f"--latency={LATENCY}", "--ready-delay=0")
    count = int(2400 * min(ctx.scale, 1.0)) or 400
    proc: Process | None = None
    try:
        ids = sim.control("generations", {"count": count, "ready_after": 0}, KEY)["ids"]
        asyncio.run(baseline(sim.url, ids[: CONCURRENCY * 4]))  # warm-up
        theirs = asyncio.run(baseline(sim.url, ids))
        ours, proc = exporter(ctx, sim, ids)
        theirs_again = asyncio.run(baseline(sim.url, ids))  # drift check
        log(f"lookups: exporter {ours:.0f}/s, httpx {theirs:.0f}/s then {theirs_again:.0f}/s")
    finally:
        if proc is not None:
            proc.stop()
        sim.stop()
    base = (theirs + theirs_again) / 2
    return [
        Row(
            "Lookups",
            f"lookups per second, {LATENCY * 1000:.0f} ms gateway latency, "
            f"{CONCURRENCY} in flight, {count:,} IDs",
            ours,
            "lookups/s",
            "bare httpx asyncio loop, same requests",
            base,
            goal=f"≥ {GOAL}x",
            met=ours / base >= GOAL,
            note=f"ceiling {CONCURRENCY / LATENCY:.0f}/s",
        )
    ]
