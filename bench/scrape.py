"""Scrape: ``/metrics`` with about 20,000 and 100,000 series, against prometheus_client's own
server, and the render alone in process.

Both processes hold the same generation series (checked sample by sample before timing):
the exporter commits them through its state writer and renders them with its incremental
exposition; the baseline feeds the same observations to plain Counter and Histogram objects
behind ``start_http_server``. Load is wrk at 2 connections (a couple of Prometheus replicas),
first without ``Accept-Encoding`` (identity), then with ``gzip`` as Prometheus sends it (the
exporter compresses at level 1, prometheus_client at its default, 9). The CPU a scrape costs
is read from /proc around sequential scrapes sent with Prometheus' own headers, and given per
second of a 15 s scrape interval.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench import dataset, goals
from bench.common import PROMETHEUS_HEADERS, Process, Row, launcher_cmd, log, median_time, wrk
from bench.context import Context
from exporter.generations.series import PERSISTED
from exporter.metrics import GENERATION_QUEUE_LENGTH
from tests.support.processes import free_port

CONNECTIONS = 2
# Pairs per team, whether the goal applies, seconds of load: about 20,000 series (the goal's
# size) and about 100,000 (reported; the baseline then takes seconds per scrape).
SIZES = ((31, True, 12), (155, False, 24))
SCRAPE_INTERVAL = 15.0
# The sample names both processes hold, value for value: the persisted generation families.
GENERATION_SAMPLES = frozenset(
    name for family in (*PERSISTED, GENERATION_QUEUE_LENGTH) for name in family.series_names
)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def check_identical(ours: str, theirs: str) -> tuple[int, int, int]:
    """(generation series, all series ours, all series theirs); raises if they differ."""
    a, b = _samples(ours), _samples(theirs)
    gen_a = {k: v for k, v in a.items() if k[0] in GENERATION_SAMPLES}
    gen_b = {k: v for k, v in b.items() if k[0] in GENERATION_SAMPLES}
    if set(gen_a) != set(gen_b):
        missing, extra = set(gen_b) - set(gen_a), set(gen_a) - set(gen_b)
        raise AssertionError(f"series differ: missing {list(missing)[:3]}, extra {list(extra)[:3]}")
    for key, value in gen_a.items():
        if abs(value - gen_b[key]) > 1e-9 * max(1.0, abs(value)):
            raise AssertionError(f"{key}: exporter {value}, baseline {gen_b[key]}")
    return len(gen_a), len(a), len(b)


def render_times(runs: int = 7) -> tuple[float, float, float]:
    """Median in-process render time of the exporter's exposition with nothing changed since
    the last render, with 1% of the series changed, and of the plain registry."""
    from exporter.assembly import build
    from exporter.config import TeamConfig, load_config
    from exporter.gateway.keys import StaticKey
    from exporter.teams import Team
    from exporter.web.app import render_metrics

    items = dataset.deltas()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        config = load_config(
            None, {}, {"state.path": f"{tmp}/state.db", "gateway.url": "http://127.0.0.1:9"}
        )
        teams = [
            Team(name, StaticKey(f"k-{name}"), TeamConfig(name=name, api_key_env="UNUSED"))
            for name in dataset.TEAMS
        ]
        exporter = build(config, teams)

        async def fill() -> None:
            writer = exporter.generations.writer
            task = asyncio.create_task(writer.run())
            await writer.submit(dataset.Observe(items))
            task.cancel()

        asyncio.run(fill())
        native = dataset.native_registry(items)
        mirror = exporter.generations.mirror
        keys = list(mirror.values)
        rng = random.Random(5)  # noqa: S311 - test data

        def render_after_commits() -> None:
            # What a few lookups committed since the last scrape do to the mirror.
            for key in rng.sample(keys, len(keys) // 100):
                mirror.values[key] = mirror.values[key].add(Decimal(1))
            render_metrics(exporter.exposition, None, False)

        unchanged = median_time(lambda: render_metrics(exporter.exposition, None, False), runs, 20)
        changed = median_time(render_after_commits, runs, 20)
        theirs = median_time(lambda: generate_latest(native), runs, 20)
        exporter.generations.store.close()
    return unchanged, changed, theirs


@contextmanager
def _servers(ctx: Context, pairs: int) -> Iterator[tuple[Process, str, Process, str]]:
    """The filled exporter and the baseline, each with ``pairs`` models per team."""
    work = ctx.scratch(f"scrape-{pairs}")
    ours_port, theirs_port = free_port(), free_port()
    state = str(work / "state.db")
    args = (str(ours_port), ctx.simulator().url, state, str(pairs))
    ours = Process(launcher_cmd("exporter_filled", *args), work / "exporter.log")
    theirs = Process(launcher_cmd("baseline_metrics", str(theirs_port), str(pairs)), work / "b.log")
    try:
        ours.wait_line("READY")
        theirs.wait_line("READY")
        yield (
            ours,
            f"http://127.0.0.1:{ours_port}/metrics",
            theirs,
            f"http://127.0.0.1:{theirs_port}/metrics",
        )
    finally:
        ours.stop()
        theirs.stop()


def _cpu_per_scrape(proc: Process, url: str, seconds: float) -> float:
    """CPU seconds one scrape with Prometheus' headers costs the server (median of batches)."""
    with httpx.Client(headers=PROMETHEUS_HEADERS, timeout=60) as client:
        client.get(url).raise_for_status()  # warm: the exporter's caches, the baseline's imports
        scrapes, before, deadline = 0, proc.cpu_seconds(), time.monotonic() + seconds
        while scrapes < 50 and (scrapes < 3 or time.monotonic() < deadline):
            client.get(url).raise_for_status()
            scrapes += 1
        return (proc.cpu_seconds() - before) / scrapes


def _size_rows(ctx: Context, pairs: int, with_goal: bool, nominal_seconds: float) -> list[Row]:
    rows: list[Row] = []
    with _servers(ctx, pairs) as (ours, ours_url, theirs, theirs_url):
        ours_text = httpx.get(ours_url, timeout=60).text
        theirs_text = httpx.get(theirs_url, timeout=60).text
        generation, n_ours, n_theirs = check_identical(ours_text, theirs_text)
        log(
            f"scrape: {n_ours} series from the exporter ({generation} generation series, "
            f"identical in the baseline), {n_theirs} from the baseline, "
            f"{len(ours_text) / 1e6:.1f} MB of text"
        )
        seconds = ctx.seconds(nominal_seconds)
        for label, headers in (("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})):
            wrk(theirs_url, 2, CONNECTIONS, ctx.workdir, headers=headers)  # warm-up
            base = wrk(theirs_url, seconds, CONNECTIONS, ctx.workdir, headers=headers)
            wrk(ours_url, 2, CONNECTIONS, ctx.workdir, headers=headers)
            mine = wrk(ours_url, seconds, CONNECTIONS, ctx.workdir, headers=headers)
            log(f"scrape {n_ours} {label}: exporter {mine}, baseline {base}")
            ratio = mine.rate / base.rate if base.rate else float("inf")
            rows.append(
                Row(
                    "Scrape",
                    f"`/metrics`, {n_ours:,} series, {label}, {CONNECTIONS} connections",
                    mine.rate,
                    "scrapes/s",
                    "prometheus_client `start_http_server`, same series",
                    base.rate,
                    goal=f"≥ {goals.SCRAPE:g}x" if with_goal else "",
                    met=ratio >= goals.SCRAPE if with_goal else None,
                    note=f"p50 {mine.p50_ms:.0f} ms vs {base.p50_ms:.0f} ms"
                    + ("; gzip level 1 vs 9" if label == "gzip" else ""),
                    load_cpu=f"{mine.cores} (baseline: {base.cores})",
                )
            )
        ours_cpu = _cpu_per_scrape(ours, ours_url, ctx.seconds(5))
        theirs_cpu = _cpu_per_scrape(theirs, theirs_url, ctx.seconds(10))
    rows.append(
        Row(
            "Scrape",
            f"server CPU per second, {n_ours:,} series, Prometheus' headers every "
            f"{SCRAPE_INTERVAL:.0f} s (OpenMetrics, gzip)",
            ours_cpu / SCRAPE_INTERVAL * 1000,
            "ms/s",
            "prometheus_client `start_http_server`, same series",
            theirs_cpu / SCRAPE_INTERVAL * 1000,
            note=f"{ours_cpu * 1000:.0f} ms vs {theirs_cpu * 1000:.0f} ms of CPU a scrape; "
            "lower is better",
            load_cpu="sequential scrapes",
        )
    )
    return rows


def run(ctx: Context) -> list[Row]:
    rows = [row for size in SIZES for row in _size_rows(ctx, *size)]
    unchanged, changed, theirs = render_times()
    for measure, seconds, with_goal in (
        ("nothing changed since the last render", unchanged, True),
        ("1% of the series changed since the last render", changed, False),
    ):
        speedup = theirs / seconds
        rows.append(
            Row(
                "Scrape",
                f"renders per second in process, text format, {measure}",
                1 / seconds,
                "renders/s",
                "`generate_latest` on the plain registry",
                1 / theirs,
                goal=f"≥ {goals.RENDER:g}x" if with_goal else "",
                met=speedup >= goals.RENDER if with_goal else None,
                note=f"{seconds * 1000:.1f} ms vs {theirs * 1000:.0f} ms",
            )
        )
    return rows
