"""The generation metrics as Prometheus sees them: promtool, exemplars, a real scrape, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from exporter import metrics
from tests.integration.test_prometheus import promtool_check_metrics
from tests.support.processes import REPO_ROOT
from tests.support.prometheus import PrometheusServer, static_job
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-exposition-0123456789"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
COST_COUNT, COST_BUCKET = (f"{metrics.GENERATION_COST.name}_{part}" for part in ("count", "bucket"))


def looked_up(
    sim: SimulatorProcess, exporter_factory: Callable[..., ExporterProcess], count: int
) -> tuple[ExporterProcess, list[str]]:
    ids = sim.control("generations", {"count": count}, key=KEY)["ids"]
    exp = exporter_factory(sim.url, "--lookup.initial-delay=0s", env={"AI_GATEWAY_API_KEY": KEY})
    assert httpx.post(f"{exp.url}/generations", json={"ids": ids}, timeout=10).status_code == 202
    exp.wait_looked_up(count, 30)
    return exp, ids


def test_promtool_and_openmetrics_with_exemplars(
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    exp, ids = looked_up(simulator_factory("--ready-delay=0"), exporter_factory, 40)
    text = httpx.get(f"{exp.url}/metrics", timeout=10).content
    assert COST_BUCKET.encode() in text
    result = promtool_check_metrics(text)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr.decode()

    body = httpx.get(f"{exp.url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10).text
    exemplars = [
        s.exemplar
        for f in text_string_to_metric_families(body)  # type: ignore[no-untyped-call]
        for s in f.samples
        if s.exemplar is not None
    ]
    assert exemplars, "histogram buckets carry exemplars in OpenMetrics"
    assert {e.labels["generation_id"] for e in exemplars} <= set(ids)
    assert " # {" not in text.decode(), "the classic text format has no exemplars"


def test_prometheus_stores_the_exemplars(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    exp, ids = looked_up(simulator_factory("--ready-delay=0"), exporter_factory, 20)
    prom = PrometheusServer(
        tmp_path / "prom",
        [static_job("gw", exp.url[7:])],
        extra_args=["--enable-feature=exemplar-storage"],
    )
    try:
        count = prom.wait_for(f'sum({COST_COUNT}{{vercel_team="default"}})')
        assert float(count[0]["value"][1]) == 20
        deadline = time.monotonic() + 20
        found: list[str] = []
        while time.monotonic() < deadline and not found:
            resp = httpx.get(
                f"{prom.url}/api/v1/query_exemplars",
                timeout=10,
                params={
                    "query": COST_BUCKET,
                    "start": time.time() - 300,
                    "end": time.time(),
                },
            )
            found = [
                e["labels"]["generation_id"]
                for series in resp.json()["data"]
                for e in series["exemplars"]
            ]
            time.sleep(0.5)
        assert found and set(found) <= set(ids)
    finally:
        prom.stop()


def test_lookup_command_prints_one_record(
    simulator_factory: Callable[..., SimulatorProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0")
    (gen_id,) = sim.control("generations", {"count": 1}, key=KEY)["ids"]
    env = {**os.environ, "AI_GATEWAY_API_KEY": KEY}

    def lookup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exporter", "lookup", *args, f"--gateway.url={sim.url}"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=30,
            check=False,
        )

    result = lookup(gen_id)
    assert result.returncode == 0, result.stderr
    truth = sim.team_truth(KEY)["generations"][0]
    assert Decimal(json.loads(result.stdout)["total_cost"]) == Decimal(truth["total_cost"])
    missing = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"
    result = lookup(missing)
    assert result.returncode == 1
    assert result.stderr == (
        f"vercel-ai-gateway-exporter: lookup failed (404): No usage event found with ID {missing}\n"
    )
    result = lookup("gen_bad")
    assert result.returncode == 1 and "is not a generation ID" in result.stderr
