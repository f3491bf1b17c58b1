"""SIGTERM with lookups in flight: exit 0 in bounded time; the in-flight IDs stay pending and
are counted exactly once after the restart."""

from __future__ import annotations

import socket
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
    exp.wait_looked_up(40, 30)
    assert_totals_match(
        expected_totals(sim.team_truth(KEY)["generations"]), observed_totals(exp, "default")
    )


def test_sigterm_with_slow_clients_stops_cleanly_and_says_what_it_waited_for(
    simulator: SimulatorProcess, exporter_factory: Callable[..., ExporterProcess]
) -> None:
    """Clients still trickling in request bodies hold nothing worth waiting for: the stop
    closes them at once, without error-level tracebacks, and logs each step once."""
    exp = exporter_factory(simulator.url, env={"AI_GATEWAY_API_KEY": KEY})
    slow = []
    for _ in range(20):
        conn = socket.create_connection(("127.0.0.1", exp.port))
        conn.sendall(
            b"POST /generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"ids": ['
        )
        slow.append(conn)
    time.sleep(0.5)
    started = time.monotonic()
    assert exp.stop() == 0
    took = time.monotonic() - started
    for conn in slow:
        conn.close()
    output = exp.process.output()
    assert took < 3, f"stopped after {took:.1f} s"
    assert "Traceback" not in output and "level=error" not in output, output
    stop_lines = output[output.index("shutting down") :].splitlines()
    assert any("closed 20 connections still sending a request" in line for line in stop_lines)
    assert stop_lines[-1].endswith("msg=stopped"), stop_lines[-1]
