"""SIGTERM with lookups in flight: exit 0 in bounded time; the in-flight IDs stay pending and
are counted exactly once after the restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from exporter import metrics
from tests.support.generations import assert_totals_match, expected_totals, observed_totals
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-drain-0123456789"


def test_sigterm_drains_and_loses_nothing(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0")
    ids = sim.control("generations", {"count": 40}, key=KEY)["ids"]
    args = ["--lookup.initial-delay=0s", f"--state.path={tmp_path / 'state.db'}"]
    env = {"AI_GATEWAY_API_KEY": KEY}
    exp = exporter_factory(sim.url, *args, env=env)
    sim.fault("slow", endpoints=["generation"], delay=4)
    assert httpx.post(f"{exp.url}/generations", json={"ids": ids}, timeout=10).status_code == 202
    wait_until(
        lambda: exp.value(metrics.GENERATION_QUEUE_LENGTH, vercel_team="default") == 40,
        5,
        what="queued",
    )
    time.sleep(1)  # lookups are now in flight, held by the slow gateway
    started = time.monotonic()
    assert exp.stop() == 0
    assert time.monotonic() - started < 8, "bounded shutdown"
    assert "shutting down" in exp.process.output()

    sim.fault(None)
    exp = exporter_factory(sim.url, *args, env=env)
    wait_until(
        lambda: exp.value(metrics.GENERATION_LOOKUPS, vercel_team="default", outcome="found") == 40,
        30,
        what="all found after restart",
    )
    assert_totals_match(
        expected_totals(sim.team_truth(KEY)["generations"]), observed_totals(exp, "default")
    )
