"""The lookups baseline: a bare httpx loop, ``CONCURRENCY`` workers each getting one ID's
record after another and doing nothing else, in a process of its own on the exporter's stack
(``exporter.web.server.run``: uvloop, the server's collector setting), so its CPU time is the
loop's alone, not the bench's, whose heap a collection would walk too.

    python -m bench.servers.bare_lookups URL KEY CONCURRENCY < IDS

IDs one per line on stdin; prints ``{"rate": lookups per second, "cpu_ms": CPU milliseconds
per lookup}``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx

from exporter.web.server import run


async def lookups(url: str, key: str, concurrency: int, ids: list[str]) -> tuple[float, float]:
    """Lookups per second of ``concurrency`` workers doing nothing but the requests, and the
    CPU seconds they took."""
    queue = list(reversed(ids))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:

        async def worker() -> None:
            while queue:
                gen_id = queue.pop()
                response = await client.get("/v1/generation", params={"id": gen_id})
                response.raise_for_status()

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(ids) / (time.perf_counter() - started), time.process_time() - cpu


if __name__ == "__main__":
    url, key, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ids = sys.stdin.read().split()
    rate, cpu = run(lookups(url, key, concurrency, ids))
    print(json.dumps({"rate": rate, "cpu_ms": cpu * 1000 / len(ids)}))
