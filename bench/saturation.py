"""Scrapes while trace intake is saturated: ``/metrics`` latency while clients post large
OTLP/JSON batches as fast as they are answered, against the same scrapes with no intake.

OTLP/JSON is decoded in pure Python (protobuf's ``json_format``), the dearest body there is:
each of these is about 4 MB, 40 AI-SDK-shaped spans of 100 KB prompts, the size the AI SDK's
batch span processor sends. Decoding runs in threads, two bodies at a time, so the event
loop that answers scrapes only shares the GIL with it. The bodies are built before the clock
(a pool cycled by every client; a body sent again is decoded again and its IDs count as
duplicates, the same work), so the benchmark's own CPU is the clients' sending alone.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

import httpx
from google.protobuf import json_format

from bench import goals
from bench.common import PROMETHEUS_HEADERS, Row, log, percentile
from bench.context import INTAKE_ONLY, Context
from exporter import routes
from exporter.web.otlp import JSON
from tests.support.ids import live_id
from tests.support.otlp import do_generate, request

CLIENTS = 8
SPANS = 40  # per body
PROMPT = 100_000  # characters of prompt per span
BODIES = 12  # distinct bodies in the pool
SCRAPE_EVERY = 0.2  # seconds between scrapes


def bodies() -> list[bytes]:
    """The pool: OTLP/JSON requests of ``SPANS`` model calls with long prompts, fresh IDs."""
    pool = []
    for _ in range(BODIES):
        calls = []
        for _ in range(SPANS):
            call = do_generate(live_id())
            call.attributes.add(key="ai.prompt").value.string_value = "p" * PROMPT
            calls.append(call)
        pool.append(json_format.MessageToJson(request(calls), indent=None).encode())
    return pool


def scrape_latencies(url: str, seconds: float) -> list[float]:
    """Milliseconds of each scrape (Prometheus' headers) over ``seconds``, one every
    ``SCRAPE_EVERY``; a scrape that fails or times out raises."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(headers=PROMETHEUS_HEADERS, timeout=30) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(SCRAPE_EVERY)
    return latencies


def posting(url: str, pool: list[bytes], stop: threading.Event, answered: list[int]) -> None:
    """One client: post the pool's bodies in turn, each as soon as the last is answered."""
    with httpx.Client(headers={"Content-Type": JSON}, timeout=60) as client:
        turn = 0
        while not stop.is_set():
            client.post(url, content=pool[turn % len(pool)]).raise_for_status()
            answered.append(1)
            turn += 1


def saturated(
    url: str, pool: list[bytes], measure: Callable[[], list[float]]
) -> tuple[list[float], float]:
    """``measure()`` while ``CLIENTS`` clients post; its figures and the bodies answered per
    second."""
    stop = threading.Event()
    answered: list[int] = []
    clients = [
        threading.Thread(target=posting, args=(url, pool, stop, answered), daemon=True)
        for _ in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    started = time.monotonic()
    try:
        figures = measure()
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=120)
    return figures, len(answered) / (time.monotonic() - started)


def run(ctx: Context) -> list[Row]:
    work = ctx.scratch("saturation")
    exporter, base = ctx.exporter_on(work / "state.db", work, "saturation", *INTAKE_ONLY)
    try:
        exporter.wait_http(f"{base}/readyz")
        log("saturation: building the bodies")
        pool = bodies()
        seconds = ctx.seconds(20)
        metrics = f"{base}{routes.DEFAULT_METRICS}"
        idle = scrape_latencies(metrics, seconds)
        loaded, rate = saturated(
            f"{base}{routes.TRACES}", pool, lambda: scrape_latencies(metrics, seconds)
        )
    finally:
        exporter.stop()
    p99, idle_p99 = percentile(loaded, 0.99), percentile(idle, 0.99)
    log(f"saturation: p99 {p99:.0f} ms (idle {idle_p99:.0f} ms), {rate:.1f} bodies/s")
    size = sum(map(len, pool)) / len(pool) / 1e6
    return [
        Row(
            "Scrapes under intake",
            f"`/metrics` p99 while {CLIENTS} clients post {size:.1f} MB OTLP/JSON bodies "
            f"({SPANS} spans of {PROMPT // 1000} KB prompts) back to back",
            p99,
            "ms",
            "the same scrapes with no intake",
            idle_p99,
            goal=f"< {goals.SATURATION_P99_MS:,.0f} ms",
            met=p99 < goals.SATURATION_P99_MS,
            note=f"p50 {statistics.median(loaded):.0f} ms, max {max(loaded):.0f} ms over "
            f"{len(loaded)} scrapes; {rate:.1f} bodies/s decoded, two at a time",
        )
    ]
