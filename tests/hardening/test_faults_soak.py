"""Every fault mode held for a stretch while IDs keep arriving: the exporter keeps serving,
leaks nothing, publishes no absurd value, and says what went wrong in its own metrics."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx

from exporter import metrics
from exporter.simulator.faults import FAULT_MODES
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-soak-0123456789"
SECONDS_PER_MODE = 2.5
QUEUE = metrics.GENERATION_QUEUE_LENGTH
# Sample names whose values come from upstream numbers: finite and never negative.
CHECKED = (
    metrics.CREDITS_BALANCE.name,
    metrics.CREDITS_USED.name,
    f"{metrics.GENERATION_COST.name}_sum",
)


def self_metrics(exp: ExporterProcess) -> tuple[float, float, float]:
    return (
        exp.value("process_open_fds") or 0,
        exp.value("process_resident_memory_bytes") or 0,
        exp.value(metrics.ASYNCIO_TASKS) or 0,
    )


def test_every_fault_mode_under_steady_intake(
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0")
    exp = exporter_factory(
        sim.url,
        "--gateway.timeout=1s",
        "--lookup.initial-delay=0s",
        "--lookup.rate=100",
        "--lookup.max-age=15s",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    client = httpx.Client(timeout=10)
    submitted: list[str] = []

    def submit_and_scrape() -> None:
        ids = sim.control("generations", {"count": 3}, key=KEY)["ids"]
        resp = client.post(f"{exp.url}/generations", json={"ids": ids})
        assert resp.status_code == 202, resp.text
        submitted.extend(ids)
        metrics = client.get(f"{exp.url}/metrics")
        assert metrics.status_code == 200
        for line in metrics.text.splitlines():
            if line.split("{", 1)[0].split(" ", 1)[0] in CHECKED:
                value = float(line.rsplit(" ", 1)[1])
                assert math.isfinite(value) and value >= 0, line

    for _ in range(8):  # warm up: some traffic, then the baseline
        submit_and_scrape()
        time.sleep(0.25)
    wait_until(
        lambda: exp.value(QUEUE, vercel_team="default") == 0,
        20,
        what="warm-up drained",
    )
    fds_before, rss_before, _ = self_metrics(exp)

    # unauthorized and quota_exceeded (a budget blocking the key) pause the team's lookups for
    # a minute, so they go last: the body faults before them must meet real lookups.
    for mode in sorted(FAULT_MODES, key=lambda m: m in ("quota_exceeded", "unauthorized")):
        sim.fault(mode, retry_after=1, delay=1.5 if mode == "hang" else 0.3)
        until = time.monotonic() + SECONDS_PER_MODE
        while time.monotonic() < until:
            submit_and_scrape()
            time.sleep(0.2)
        assert exp.process.alive(), f"died under {mode}:\n{exp.process.output()[-3000:]}"
    sim.fault(None)

    wait_until(
        lambda: exp.value(QUEUE, vercel_team="default") == 0,
        60,
        interval=0.5,
        what="every ID resolved after the faults",
    )
    time.sleep(3)  # let in-flight work settle and the task gauge resample
    fds_after, rss_after, tasks_after = self_metrics(exp)
    assert fds_after <= fds_before + 5, (fds_before, fds_after)
    assert rss_after - rss_before < 40 * 2**20, (rss_before, rss_after)
    assert tasks_after <= 15, f"{tasks_after} asyncio tasks alive after the storm"

    found = exp.value(metrics.GENERATION_LOOKUPS, vercel_team="default", outcome="found") or 0
    abandoned = sum(v for _, v in exp.series(metrics.GENERATION_IDS_ABANDONED))
    assert found + abandoned == len(submitted)
    skipped = {
        labels["field"]
        for labels, _ in exp.series(metrics.GENERATION_OBSERVATIONS_SKIPPED)
        if labels["reason"] == "invalid"
    }
    assert {"total_cost", "latency", "native_tokens_prompt"} <= skipped, skipped
    codes = {labels["code"] for labels, _ in exp.series(metrics.API_REQUESTS)}
    assert {
        "200",
        "401",
        "429",
        "500",
        "503",
        "timeout",
        "network_error",
        "invalid_response",
    } <= codes, codes
    outcomes = {labels["outcome"] for labels, _ in exp.series(metrics.GENERATION_LOOKUPS)}
    assert {"found", "rate_limited", "error", "invalid", "rejected"} <= outcomes, outcomes
    log = exp.process.output()
    assert "credits refresh failed" in log and "Traceback" not in log
    client.close()
