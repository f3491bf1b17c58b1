"""A real Prometheus scrapes the exporter; promtool lints what it exposes."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from exporter import metrics
from tests.support.generations import priced_catalog_args
from tests.support.processes import wait_until
from tests.support.prometheus import PrometheusServer, static_job
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-prometheus-0123456789"


def promtool_check_metrics(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_prometheus_reads_the_balance(
    tmp_path: Path,
    simulator: SimulatorProcess,
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    exp = exporter_factory(simulator.url, env={"AI_GATEWAY_API_KEY": KEY})
    simulator.control("generations", {"count": 10}, key=KEY)
    expected = float(Decimal(simulator.team_truth(KEY)["balance"]))
    prom = PrometheusServer(tmp_path / "prom", [static_job("vercel-ai-gateway", exp.url[7:])])
    try:
        result = prom.wait_for(
            f'{metrics.CREDITS_BALANCE.name}{{vercel_team="default"}} == {expected!r}'
        )
        assert result[0]["metric"]["job"] == "vercel-ai-gateway"
        assert float(result[0]["value"][1]) == expected
        up = prom.wait_for(f'{metrics.SOURCE_UP.name}{{vercel_team="default",source="credits"}}')
        assert up[0]["value"][1] == "1"
    finally:
        prom.stop()


def test_promtool_finds_nothing_in_the_exposition(
    simulator: SimulatorProcess, exporter_factory: Callable[..., ExporterProcess]
) -> None:
    config = {
        "teams": [
            {
                "name": "prod",
                "api_key_env": "K",
                "alerts": {
                    "credits_low_usd": 100,
                    "credits_critical_usd": 20,
                    "credits_runway": "12h",
                    "spend_spike_floor_usd": 5,
                    "budget_used_ratio": 0.8,
                    "model_deprecation": "90d",
                },
            }
        ]
    }
    # Configured models have their providers read at the first poll: provider health, whose
    # percentile label promtool refused while it was called quantile, is in the exposition.
    exp = exporter_factory(
        simulator.url, *priced_catalog_args(simulator), config=config, env={"K": KEY}
    )
    provider_ttft = f"\n{metrics.MODEL_PROVIDER_TIME_TO_FIRST_TOKEN.name}{{".encode()
    wait_until(
        lambda: provider_ttft in httpx.get(f"{exp.url}/metrics", timeout=10).content,
        timeout=60,
        what="provider health in the exposition",
    )
    body = httpx.get(f"{exp.url}/metrics", timeout=10).content
    for family in metrics.FAMILIES:
        if family.area is metrics.Area.THRESHOLDS:
            assert f"\n{family.name}{{".encode() in body, family.name
    result = promtool_check_metrics(body)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()


def test_openmetrics_exposition_parses_strictly(
    simulator: SimulatorProcess, exporter_factory: Callable[..., ExporterProcess]
) -> None:
    """promtool 2.42 reads only the text format, so OpenMetrics goes through the strict parser."""
    exp = exporter_factory(simulator.url, env={"AI_GATEWAY_API_KEY": KEY})
    resp = httpx.get(
        f"{exp.url}/metrics",
        timeout=10,
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(resp.text)}  # type: ignore[no-untyped-call]
    # OpenMetrics names a counter family without its _total.
    assert families[metrics.API_REQUESTS.name.removesuffix("_total")].type == "counter"
    assert families[metrics.CREDITS_BALANCE.name].type == "gauge"
