"""How the cost grows with a heavy team's volume: the exporter on states of 1, 10 and 30
million resolved IDs (100 generations a second keep about 60 million within the 7-day dedup
retention; the default ``--state.dedup-max-rows`` keeps 10 million, raised out of the way here).

Each state is written directly through the exporter's Store (``state.py``), its resolution
times spread over 8 days, so the prune pass every start runs first has an eighth of it to
forget. On each: the state file's size with only the resolved IDs in it, the time to
``/readyz``, scrapes and single-ID posts sampled while that prune runs (until its log line)
and for as long after it, then single-ID and batch intake with wrk, and the peak RSS. Each
row gives the figure at the largest state against the same figure at the smallest, the 10
million one in its note; ``--scale`` shrinks every state (0.01: 10,000 to 300,000 IDs) for a
quick look.
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench import dataset, goals
from bench.common import PROMETHEUS_HEADERS, Row, fmt, log, percentile, wrk
from bench.context import Context
from bench.intake import script
from bench.state import build
from exporter import routes

SIZES = (1_000_000, 10_000_000, 30_000_000)
PENDING = 10_000
SAMPLE_EVERY = 0.05


@dataclass(frozen=True)
class Figures:
    resolved: int
    mb_per_million: float
    ready_s: float
    prune_s: float
    scrape_p99_prune_ms: float
    scrape_p99_ms: float
    post_p99_prune_ms: float
    single_rate: float
    batch_rate: float
    peak_rss_mb: float


def p99(values: list[float]) -> float:
    return percentile(values, 0.99)


class Sampler:
    """Scrapes (Prometheus' headers) and single-ID posts, one of each every
    ``SAMPLE_EVERY``, timed in milliseconds, until stopped."""

    def __init__(self, url: str, prefix: str) -> None:
        self.scrapes: list[float] = []
        self.posts: list[float] = []
        self._url, self._prefix = url, prefix
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    def _run(self) -> None:
        ids = dataset.fresh_ids(self._prefix, 10**6)
        with httpx.Client(base_url=self._url, timeout=60) as client:
            while not self._stop.is_set():
                self.scrapes.append(
                    _timed(lambda: client.get("/metrics", headers=PROMETHEUS_HEADERS))
                )
                self.posts.append(
                    _timed(lambda: client.post(routes.GENERATIONS, json={"id": next(ids)}))
                )
                time.sleep(SAMPLE_EVERY)


def _timed(request: Callable[[], httpx.Response]) -> float:
    started = time.perf_counter()
    request().raise_for_status()
    return (time.perf_counter() - started) * 1000


def measure(ctx: Context, resolved: int) -> Figures:
    work = ctx.scratch(f"scale-{resolved}")
    try:
        state = build(work / "state", resolved, PENDING, days=8, compare=False)
        log(f"scale: {resolved:,} resolved IDs written in {state.seconds:.0f} s")
        proc, url = ctx.exporter_on(
            state.path, work, "scale", "--log.level=info", "--state.dedup-max-rows=1000000000"
        )
        try:
            ready = proc.wait_http(f"{url}/readyz", timeout=600, interval=0.01)
            # The first scrape renders every series once (later ones reuse what is unchanged):
            # a cost of the start, not of the prune.
            httpx.get(f"{url}/metrics", headers=PROMETHEUS_HEADERS, timeout=60).raise_for_status()
            with Sampler(url, "S1") as pruning:
                proc.wait_line("forgot old resolved IDs", timeout=1800)
            if not pruning.scrapes:
                log(f"scale: the prune of {resolved:,} IDs was over before the first sample")
            prune_s = time.monotonic() - proc.started
            with Sampler(url, "S2") as quiet:
                time.sleep(max(2.0, min(prune_s - ready, 30.0)))
            rng = random.Random()  # noqa: S311 - unique test IDs, not secrets
            seconds = max(2.0, ctx.seconds(4))
            target = f"{url}{routes.GENERATIONS}"
            single = wrk(target, seconds, 32, work, script(1, rng))
            batch = wrk(target, seconds, 8, work, script(1000, rng))
            if single.errors or batch.errors:
                raise RuntimeError(f"intake answered errors:\n{proc.output()}")
            peak = proc.status()["VmHWM"] / 1024
        finally:
            proc.stop()
        return Figures(
            resolved=resolved,
            mb_per_million=state.resolved_only_bytes / 1e6 / (resolved / 1e6),
            ready_s=ready,
            prune_s=prune_s,
            scrape_p99_prune_ms=p99(pruning.scrapes),
            scrape_p99_ms=p99(quiet.scrapes),
            post_p99_prune_ms=p99(pruning.posts),
            single_rate=single.rate,
            batch_rate=batch.rate * 1000,
            peak_rss_mb=peak,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(ctx: Context) -> list[Row]:
    figures = [measure(ctx, max(10_000, int(size * ctx.scale))) for size in SIZES]
    for f in figures:
        log(f"scale: {f}")
    small, middle, large = figures
    at = f"{large.resolved:,} resolved IDs"
    base = f"the same at {small.resolved:,}"

    def also(value: float, unit: str) -> str:
        return f"{fmt(value, unit)} at {middle.resolved:,}"

    return [
        Row(
            "Scale",
            f"state file, MB per million resolved IDs, {at}",
            large.mb_per_million,
            "MB",
            base,
            small.mb_per_million,
            note=also(middle.mb_per_million, "MB"),
        ),
        Row(
            "Scale",
            f"restart: time to ready, {at}",
            large.ready_s,
            "s",
            base,
            small.ready_s,
            goal=f"≤ {goals.SCALE_RESTART_S:.0f} s",
            met=large.ready_s <= goals.SCALE_RESTART_S,
            note=also(middle.ready_s, "s"),
        ),
        Row(
            "Scale",
            f"single-ID requests per second, 32 connections, {at}",
            large.single_rate,
            "req/s",
            base,
            small.single_rate,
            goal=f"≥ {goals.SCALE_INTAKE}x",
            met=large.single_rate >= goals.SCALE_INTAKE * small.single_rate,
            note=also(middle.single_rate, "req/s"),
        ),
        Row(
            "Scale",
            f"IDs accepted per second, 1,000 per request, 8 connections, {at}",
            large.batch_rate,
            "IDs/s",
            base,
            small.batch_rate,
            goal=f"≥ {goals.SCALE_INTAKE}x",
            met=large.batch_rate >= goals.SCALE_INTAKE * small.batch_rate,
            note=also(middle.batch_rate, "IDs/s"),
        ),
        Row(
            "Scale",
            f"`/metrics` p99 during the start's prune pass, {at}",
            large.scrape_p99_prune_ms,
            "ms",
            "the same scrapes after it",
            large.scrape_p99_ms,
            goal=f"≤ {goals.SCALE_PRUNE_P99:.0f}x",
            met=large.scrape_p99_prune_ms <= goals.SCALE_PRUNE_P99 * large.scrape_p99_ms,
            note=f"prune done {large.prune_s:.0f} s after start "
            f"({middle.prune_s:.0f} s at {middle.resolved:,}); single-ID post p99 during it "
            f"{large.post_p99_prune_ms:.0f} ms",
        ),
        Row(
            "Scale",
            f"peak RSS, {at}",
            large.peak_rss_mb,
            "MB",
            base,
            small.peak_rss_mb,
            goal=f"≤ {goals.SCALE_RSS}x",
            met=large.peak_rss_mb <= goals.SCALE_RSS * small.peak_rss_mb,
            note=also(middle.peak_rss_mb, "MB"),
        ),
    ]
