"""The state disk fills up or is unusable: intake says 503, nothing acknowledged is lost,
it recovers by itself; a corrupt or foreign state file stops the start with advice."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from exporter import metrics
from exporter.simulator.world import CROCKFORD
from tests.support.ids import live_id
from tests.support.processes import REPO_ROOT, wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-disk-0123456789"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs (room for SQLite's WAL), small enough to fill (needs root, as CI has)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path) -> None:
    """Write until the disk is full (unbuffered: closing must not flush a refused rest)."""
    with path.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


def test_disk_full_refuses_then_recovers_without_losing_anything(
    small_disk: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0")
    ids = sim.control("generations", {"count": 3000}, key=KEY)["ids"]
    exp = exporter_factory(
        sim.url,
        "--lookup.initial-delay=2s",
        "--lookup.rate=200",
        "--lookup.concurrency=16",
        f"--state.path={small_disk / 'state.db'}",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    acknowledged: list[str] = []

    def send(batch: list[str]) -> httpx.Response:
        resp = httpx.post(f"{exp.url}/generations", json={"ids": batch}, timeout=10)
        if resp.status_code == 202:
            acknowledged.extend(batch)
        return resp

    assert send(ids[:100]).status_code == 202
    fill(small_disk / "filler")
    refused = None
    for start in range(100, 2900, 100):
        resp = send(ids[start : start + 100])
        if resp.status_code == 503:
            refused = resp
            break
    rng = random.Random(5)
    for _ in range(200):  # IDs unknown to the simulator, only to use up what space is left
        if refused is not None:
            break
        filler_ids = [live_id("".join(rng.choices(CROCKFORD, k=16))) for _ in range(2000)]
        resp = httpx.post(f"{exp.url}/generations", json={"ids": filler_ids}, timeout=10)
        refused = resp if resp.status_code == 503 else None
    assert refused is not None, "a full disk must refuse intake"
    assert refused.headers["retry-after"] == "10"
    assert "IDs not stored" in refused.json()["error"]
    assert "full" in refused.json()["error"]
    assert exp.get("/metrics").status_code == 200, "metrics keep working"

    (small_disk / "filler").unlink()
    wait_until(
        lambda: send(ids[2900:2910]).status_code == 202,
        20,
        interval=0.5,
        what="intake recovered by itself",
    )
    wait_until(
        lambda: (
            exp.value(metrics.GENERATION_LOOKUPS, vercel_team="default", outcome="found")
            == len(set(acknowledged))
        ),
        90,
        interval=0.5,
        what="every acknowledged ID looked up",
    )
    assert exp.process.alive()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AI_GATEWAY_API_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )


def test_corrupt_state_file_stops_the_start_with_advice(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"\x13\x37 not sqlite " * 512)
    result = run_cli(f"--state.path={state}", "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"vercel-ai-gateway-exporter: state file {state} is damaged (file is not a database)"
    )
    assert "move it aside" in result.stderr and "Traceback" not in result.stderr
    assert state.read_bytes().startswith(b"\x13\x37"), "never silently reset"


def test_foreign_state_file_stops_the_start(tmp_path: Path) -> None:
    state = tmp_path / "grafana.db"
    with sqlite3.connect(state) as conn:
        conn.execute("CREATE TABLE dashboard (id INTEGER)")
    result = run_cli(f"--state.path={state}", "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 1
    assert result.stderr == (
        f"vercel-ai-gateway-exporter: state file {state} belongs to another program (SQLite "
        "application_id 0x0); point --state.path at a file of this exporter's own\n"
    )


def test_unwritable_state_directory_stops_the_start(small_disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = run_cli(f"--state.path={small_disk / 'state.db'}", "--web.listen-address=127.0.0.1:0")
    assert result.returncode == 1
    assert "cannot be opened for writing" in result.stderr or "Read-only" in result.stderr
    assert "Traceback" not in result.stderr
