"""Scrape: ``/metrics`` with about 20,000 series, against prometheus_client's own server.

Both processes hold the same generation series (checked sample by sample before timing):
the exporter commits them through its state writer and renders them with its collectors;
the baseline feeds the same observations to plain Counter and Histogram objects behind
``start_http_server``. Load is wrk at 2 connections (a couple of Prometheus replicas), first
without ``Accept-Encoding`` (identity: the rendering alone), then with ``gzip`` as Prometheus
sends it (the exporter compresses at level 1, prometheus_client at its default, 9).
"""

from __future__ import annotations

import asyncio
import tempfile

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench import dataset
from bench.common import Process, Row, launcher_cmd, log, median_time, wrk
from bench.context import Context
from exporter.metrics import FAMILIES, Area
from tests.support.processes import free_port

CONNECTIONS = 2
GOAL = 0.8
# The sample names of the generation families: what both processes hold, value for value.
GENERATION_SAMPLES = frozenset(
    name
    for family in FAMILIES
    if family.area in (Area.GENERATIONS, Area.PIPELINE)
    for name in family.series_names
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


def render_times(runs: int = 7) -> tuple[float, float]:
    """Median in-process render time of the exporter's registry and of the plain one."""
    from exporter.config import TeamConfig, load_config
    from exporter.gateway.keys import StaticKey
    from exporter.service import Exporter
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
        exporter = Exporter(config, teams)

        async def fill() -> None:
            writer = exporter.generations.writer
            task = asyncio.create_task(writer.run())
            await writer.submit(dataset.Observe(items))
            task.cancel()

        asyncio.run(fill())
        native = dataset.native_registry(items)
        ours = median_time(lambda: render_metrics(exporter.registry, None, False), runs, 20)
        theirs = median_time(lambda: generate_latest(native), runs, 20)
        exporter.generations.store.close()
    return ours, theirs


def run(ctx: Context) -> list[Row]:
    sim = ctx.simulator()
    work = ctx.workdir / "scrape"
    work.mkdir(parents=True, exist_ok=True)
    ours_port, theirs_port = free_port(), free_port()
    ours = Process(
        launcher_cmd("exporter_filled", str(ours_port), sim.url, str(work / "state.db")),
        work / "exporter.log",
    )
    theirs = Process(launcher_cmd("baseline_metrics", str(theirs_port)), work / "baseline.log")
    rows: list[Row] = []
    try:
        ours.wait_line("READY")
        theirs.wait_line("READY")
        ours_url = f"http://127.0.0.1:{ours_port}/metrics"
        theirs_url = f"http://127.0.0.1:{theirs_port}/metrics"
        ours_text = httpx.get(ours_url, timeout=30).text
        theirs_text = httpx.get(theirs_url, timeout=30).text
        generation, n_ours, n_theirs = check_identical(ours_text, theirs_text)
        log(
            f"scrape: {n_ours} series from the exporter ({generation} generation series, "
            f"identical in the baseline), {n_theirs} from the baseline, "
            f"{len(ours_text) / 1e6:.1f} MB of text"
        )
        seconds = ctx.seconds(12)
        for label, headers in (("identity", {}), ("gzip", {"Accept-Encoding": "gzip"})):
            wrk(theirs_url, 2, CONNECTIONS, work, headers=headers)  # warm-up
            base = wrk(theirs_url, seconds, CONNECTIONS, work, headers=headers)
            wrk(ours_url, 2, CONNECTIONS, work, headers=headers)
            mine = wrk(ours_url, seconds, CONNECTIONS, work, headers=headers)
            log(f"scrape {label}: exporter {mine}, baseline {base}")
            ratio = mine.rate / base.rate
            rows.append(
                Row(
                    "Scrape",
                    f"`/metrics`, {n_ours:,} series, {label}, {CONNECTIONS} connections",
                    mine.rate,
                    "scrapes/s",
                    "prometheus_client `start_http_server`, same series",
                    base.rate,
                    goal=f"≥ {GOAL}x",
                    met=ratio >= GOAL,
                    note=f"p50 {mine.p50_ms:.0f} ms vs {base.p50_ms:.0f} ms"
                    + ("; gzip level 1 vs 9" if label == "gzip" else ""),
                )
            )
    finally:
        ours.stop()
        theirs.stop()
    render_ours, render_theirs = render_times()
    rows.append(
        Row(
            "Scrape",
            "render time per scrape (in process, text format)",
            render_ours * 1000,
            "ms",
            "`generate_latest` on the plain registry",
            render_theirs * 1000,
            note="lower is better",
        )
    )
    return rows
