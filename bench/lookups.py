"""Lookups: generation records fetched per second from a gateway answering in a fixed time.

Two cases, each a row: 16 requests in flight against 50 ms, and 64 in flight against 200 ms
(both a 320/s ceiling; the second keeps four times as many lookups waiting at once). Both
sides look up the same IDs on the same simulator (``simulate --latency=…``). The baseline is
a bare httpx loop in a process of its own on the exporter's stack (servers/bare_lookups.py);
the exporter is the real CLI
(``--lookup.concurrency=…``, its rate limit raised out of the way) and counts from the moment
the IDs are posted to its intake until every lookup is committed to its store (its lookups
counter, outcome found, must then show every ID).

Both sides are CPU-bound on 2 cores shared with the simulator, so the throughput ratio mostly
measures CPU: the goal is on CPU per completed lookup (the exporter process's user + system
time over the run, the bare loop's own over its requests: run in the bench process, it also
paid for collections walking the bench's heap, 0.9 ms a lookup instead of 0.76 ms); the
throughput rows are reported.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from bench import goals
from bench.common import Process, Row, Simulator, exporter_cmd, launcher_cmd, log, metric_value
from bench.context import Context
from exporter.metrics import GENERATION_LOOKUPS
from tests.support.processes import free_port

T = TypeVar("T")

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


@dataclass(frozen=True)
class Pace:
    rate: float  # lookups per second
    cpu_ms: float  # CPU milliseconds per lookup, of the process doing them


def bare(case: Case, url: str, ids: list[str]) -> Pace:
    """The bare loop's pace and CPU, from a process of its own (servers/bare_lookups.py)."""
    done = subprocess.run(
        launcher_cmd("bare_lookups", url, KEY, str(case.concurrency)),
        input="\n".join(ids),
        capture_output=True,
        text=True,
        timeout=60 + len(ids) / 10,
        check=True,
    )
    result = json.loads(done.stdout)
    return Pace(result["rate"], result["cpu_ms"])


def exporter(case: Case, work: Path, sim: Simulator, ids: list[str]) -> tuple[Pace, Process]:
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
            cpu = proc.cpu_seconds()
            started = time.perf_counter()
            client.post("/generations", json={"ids": ids}).raise_for_status()
            done = 0
            while time.monotonic() < deadline:
                done = state.execute("SELECT COUNT(*) FROM resolved").fetchone()[0]
                if done >= len(ids):
                    rate = len(ids) / (time.perf_counter() - started)
                    cpu_ms = (proc.cpu_seconds() - cpu) * 1000 / len(ids)
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
    return Pace(rate, cpu_ms), proc


def _with_upstream_cpu(sim: Simulator, run: Callable[[], T]) -> tuple[T, float]:
    """``run()``, and the simulator's CPU meanwhile in cores: the upstream shares the cores."""
    before, started = sim.process.cpu_seconds(), time.monotonic()
    result = run()
    return result, (sim.process.cpu_seconds() - before) / (time.monotonic() - started)


def measure(ctx: Context, case: Case) -> list[Row]:
    """One case: the baseline, the exporter, the baseline again (drift check)."""
    work = ctx.scratch(f"lookups-{case.tag}")
    sim = Simulator(work, f"--latency={case.latency}", "--ready-delay=0")
    count = int(IDS * min(ctx.scale, 1.0)) or 400
    proc: Process | None = None
    try:
        ids = sim.control("generations", {"count": count, "ready_after": 0}, KEY)["ids"]
        bare(case, sim.url, ids[: case.concurrency * 4])  # warm-up
        theirs, theirs_cores = _with_upstream_cpu(sim, lambda: bare(case, sim.url, ids))
        (ours, proc), ours_cores = _with_upstream_cpu(sim, lambda: exporter(case, work, sim, ids))
        again = bare(case, sim.url, ids)
        log(f"lookups {case.tag}: exporter {ours}, httpx {theirs} then {again}")
    finally:
        if proc is not None:
            proc.stop()
        sim.stop()
    rate = (theirs.rate + again.rate) / 2
    cpu_ms = (theirs.cpu_ms + again.cpu_ms) / 2
    what = f"{case.latency * 1000:.0f} ms gateway latency, {case.concurrency} in flight"
    load = f"simulator {ours_cores:.2f} cores (baseline: {theirs_cores:.2f})"
    return [
        Row(
            "Lookups",
            f"CPU per completed lookup, {what}, {count:,} IDs",
            ours.cpu_ms,
            "ms",
            "bare httpx loop on the exporter's stack, same requests, its own process's CPU",
            cpu_ms,
            goal=f"≤ {goals.LOOKUP_CPU}x",
            met=ours.cpu_ms <= goals.LOOKUP_CPU * cpu_ms,
            note="the exporter's includes taking the IDs on POST /generations and committing "
            "every record",
            load_cpu=load,
        ),
        Row(
            "Lookups",
            f"lookups per second (reported), {what}",
            ours.rate,
            "lookups/s",
            "bare httpx loop on the exporter's stack, same requests",
            rate,
            note=f"ceiling {case.ceiling:.0f}/s",
            load_cpu=load,
        ),
    ]


def run(ctx: Context) -> list[Row]:
    return [row for case in CASES for row in measure(ctx, case)]
