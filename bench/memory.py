"""Memory and storage: peak RSS after a million IDs, and the state's size per million.

The exporter (the real CLI, default lookup settings) starts on the big state (1,000,000
resolved and 100,000 pending IDs, so its lookups run against the simulator throughout), then
takes 1,000,000 new IDs through ``POST /generations`` in requests of 1,000 while /metrics (about
100,000 series) is scraped every second as Prometheus asks for it (OpenMetrics, gzip). Peak
RSS is the kernel's high-water mark (VmHWM) read from /proc at the end. The baseline is the
same exporter on an empty state after one scrape.

Storage is the SQLite file's size per million resolved IDs (after a checkpoint), next to the
same IDs in a bare one-column table.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path

import httpx

from bench import dataset, goals
from bench.common import PROMETHEUS_HEADERS, Process, Row, log
from bench.context import Context

IDS = 1_000_000
BATCH = 1_000
CONNECTIONS = 4


def start(ctx: Context, state: Path, tag: str) -> tuple[Process, str]:
    proc, url = ctx.exporter_on(state, state.parent, tag)
    proc.wait_http(f"{url}/readyz", timeout=60)
    return proc, url


async def feed(url: str, count: int, deadline: float) -> int:
    """POST ``count`` fresh IDs in requests of BATCH; scrape /metrics once a second."""
    bodies = iter(range(0, count, BATCH))
    accepted = 0

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        for start in bodies:
            if time.monotonic() > deadline:
                raise TimeoutError("feeding the exporter took too long")
            ids = list(dataset.fresh_ids("M0", BATCH, start))
            response = await client.post(
                "/generations",
                content=json.dumps({"ids": ids}),
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
            accepted += response.json()["accepted"]

    async def scraper(client: httpx.AsyncClient, done: asyncio.Event) -> None:
        while not done.is_set():
            (await client.get("/metrics", headers=PROMETHEUS_HEADERS)).raise_for_status()
            await asyncio.sleep(1)

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        done = asyncio.Event()
        scraping = asyncio.create_task(scraper(client, done))
        await asyncio.gather(*(sender(client) for _ in range(CONNECTIONS)))
        done.set()
        await scraping
    return accepted


def run(ctx: Context) -> list[Row]:
    big = ctx.big_state()
    work = ctx.scratch("memory")
    count = max(BATCH, int(IDS * min(ctx.scale, 1.0)) // BATCH * BATCH)
    copy = work / "state.db"
    shutil.copyfile(big.path, copy)
    proc, url = start(ctx, copy, "big")
    try:
        started, client_cpu = time.monotonic(), time.process_time()
        accepted = asyncio.run(feed(url, count, started + 300))
        seconds = time.monotonic() - started
        client_cores = (time.process_time() - client_cpu) / seconds
        peak = proc.status()
    finally:
        proc.stop()
    copy.unlink()
    if accepted != count:
        raise RuntimeError(f"{accepted} of {count} IDs accepted")
    idle, url = start(ctx, work / "empty.db", "empty")
    try:
        httpx.get(f"{url}/metrics", timeout=30).raise_for_status()
        base = idle.status()
    finally:
        idle.stop()
    log(f"memory: {count} IDs in {seconds:.1f} s; peak {peak}, idle {base} (kB)")
    per_million = big.resolved_only_bytes / big.resolved * 1e6
    bare_per_million = big.ids_only_bytes / big.resolved * 1e6
    return [
        Row(
            "Memory",
            f"peak RSS: started on {big.resolved:,} resolved + {big.pending:,} pending IDs, "
            f"then {count:,} more IDs through intake, ~100,000 series scraped every second "
            "with Prometheus' headers",
            peak["VmHWM"] / 1024,
            "MB",
            "same exporter idle on an empty state",
            base["VmHWM"] / 1024,
            goal=f"≤ {goals.MEMORY_MB:.0f} MB",
            met=peak["VmHWM"] / 1024 <= goals.MEMORY_MB,
            note=f"RSS at the end {peak['VmRSS'] / 1024:.0f} MB",
            load_cpu=f"httpx client {client_cores:.2f} cores",
        ),
        Row(
            "Storage",
            "state file per million resolved IDs",
            per_million / 1e6,
            "MB",
            "the same IDs alone in a bare SQLite table",
            bare_per_million / 1e6,
            goal=f"≤ {goals.STORAGE}x",
            met=per_million <= goals.STORAGE * bare_per_million,
            note=f"+{(big.total_bytes - big.resolved_only_bytes) / 1e6:.0f} MB for "
            f"{big.pending:,} pending IDs and the series",
        ),
    ]
