"""The panels that show what an alert reads compute what the rule records.

The per-team ratios of grafana/rules/vercel-ai-gateway.rules.yaml (coverage, provider error
ratio, failed share) keep no instance label, so the dashboard, whose selectors all filter by
$instance, cannot read them: those panels compute the same ratio from the raw series. Here
promtool evaluates both on the same series (two replicas, a healthy provider, a team whose every
request fails) and each panel must equal the ratio its alert reads, for every team or provider,
with the panel's window set to the rule's.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import metrics
from tests.dashboard.queries import load_dashboard, panel_queries
from tests.rules import recorded
from tests.support import promql
from tests.support.processes import REPO_ROOT

RULE_FILE = REPO_ROOT / "grafana" / "rules" / "vercel-ai-gateway.rules.yaml"
JOB = "vercel-ai-gateway-exporter"
TOLERANCE = "1e-12"


@dataclass(frozen=True)
class Pair:
    panel: str
    alert: str
    by: str  # the label the panel shows one line per
    values: tuple[str, ...]  # the lines the fixture must give (never an empty comparison)
    rate_interval: str  # the rule's window, given to the panel's $__rate_interval


PAIRS = (
    Pair("Spend coverage", "VercelAIGatewayCoverageLow", "vercel_team", ("prod",), "1h"),
    Pair(
        "Failed share of requests",
        "VercelAIGatewayRequestsFailing",
        "vercel_team",
        ("prod", "broke"),
        "30m",
    ),
    Pair(
        "Provider error ratio",
        "VercelAIGatewayProviderAttemptsFailing",
        "provider",
        ("anthropic", "openai"),
        "30m",
    ),
)


def _series(family: metrics.Family, suffix: str = "", **labels: str) -> str:
    name = family.name + suffix
    assert name in family.series_names
    pairs = ",".join(f'{k}="{v}"' for k, v in {"job": JOB, **labels}.items())
    return f"{name}{{{pairs}}}"


def _input() -> list[dict[str, str]]:
    """Two replicas of prod: 0.75 of its spend counted, 2 of 16 requests failed, 2 of 16 calls
    to anthropic failed and none to openai; broke: every request failed, no generation."""
    one, two = "10.0.0.1:9853", "10.0.0.2:9853"
    gen = {"vercel_team": "prod", "provider": "openai", "operation": "chat"}
    requests = {**gen, "model": "openai/gpt-5", "finish_reason": "stop"}
    requests |= {"streamed": "true", "byok": "false"}
    failed = {**gen, "model": "openai/gpt-5", "error_type": "429"}
    claude = {"vercel_team": "prod", "model": "anthropic/claude-sonnet-4.5"}
    claude |= {"provider": "anthropic"}
    rows = [
        (_series(metrics.CREDITS_USED, instance=one, vercel_team="prod"), "0+1x90"),
        (_series(metrics.CREDITS_USED, instance=two, vercel_team="prod"), "0+1x90"),
        (_series(metrics.GENERATION_COST, "_sum", instance=one, model="a", **gen), "0+0.5x90"),
        (_series(metrics.GENERATION_COST, "_sum", instance=two, model="b", **gen), "0+0.25x90"),
        (_series(metrics.GENERATION_REQUESTS, instance=one, **requests), "0+7x90"),
        (_series(metrics.GENERATION_REQUESTS, instance=two, **requests), "0+7x90"),
        (_series(metrics.REQUESTS_FAILED, instance=one, **failed), "0+1x90"),
        (_series(metrics.REQUESTS_FAILED, instance=two, **failed), "0+1x90"),
        (
            _series(metrics.REQUESTS_FAILED, instance=one, **{**failed, "vercel_team": "broke"}),
            "0+2x90",
        ),
        (_series(metrics.PROVIDER_ATTEMPTS, instance=one, outcome="success", **claude), "0+7x90"),
        (_series(metrics.PROVIDER_ATTEMPTS, instance=one, outcome="429", **claude), "0+1x90"),
        (_series(metrics.PROVIDER_ATTEMPTS, instance=two, outcome="success", **claude), "0+7x90"),
        (_series(metrics.PROVIDER_ATTEMPTS, instance=two, outcome="timeout", **claude), "0+1x90"),
        (
            _series(
                metrics.PROVIDER_ATTEMPTS,
                instance=one,
                outcome="success",
                **{**claude, "provider": "openai"},
            ),
            "0+10x90",
        ),
    ]
    # The drain delivers for both teams (the panels show 0, not nothing, where it does).
    for team in ("prod", "broke"):
        events = _series(metrics.DRAIN_TRACE_EVENTS, instance=one, vercel_team=team)
        rows.append((events.replace("}", ',result="observed"}'), "0+16x90"))
    return [{"series": series, "values": values} for series, values in rows]


def _groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULE_FILE.read_text())["groups"]
    return groups


def _ratio_read_by(alert: str) -> str:
    """The per-team ratio the alert reads (exactly one)."""
    ratios = {r.record for r in recorded.records(RULE_FILE) if not r.per_replica}
    (rule,) = [r for g in _groups() for r in g["rules"] if r.get("alert") == alert]
    (ratio,) = promql.metric_names(rule["expr"]) & ratios
    return ratio


def _panel_expr(pair: Pair) -> str:
    (query,) = [q for q in panel_queries() if q.panel_title == pair.panel and q.where[-1] == "A"]
    return query.promql(rate_interval=pair.rate_interval)


def _comparison(pair: Pair) -> dict[str, Any]:
    ratio = _ratio_read_by(pair.alert)
    expr = (
        f"abs(({_panel_expr(pair)}) - on ({pair.by}) max by ({pair.by}) ({ratio})) "
        f"< bool {TOLERANCE}"
    )
    return {
        "expr": expr,
        "eval_time": "1h",
        "exp_samples": [{"labels": f'{{{pair.by}="{v}"}}', "value": 1} for v in pair.values],
    }


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's 'prometheus' package (make test does)")
    return path


def run(tmp_path: Path, comparisons: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    unit_test = {
        "rule_files": [str(RULE_FILE)],
        "evaluation_interval": "1m",
        "group_eval_order": [group["name"] for group in _groups()],
        "tests": [{"interval": "1m", "input_series": _input(), "promql_expr_test": comparisons}],
    }
    path = tmp_path / "recorded-ratios.yaml"
    path.write_text(yaml.safe_dump(unit_test, sort_keys=False))
    return subprocess.run(
        [_promtool(), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_panel_names_the_alert_it_mirrors() -> None:
    panels = {p["title"]: p for p in load_dashboard()["panels"]}
    for pair in PAIRS:
        assert pair.alert in panels[pair.panel]["description"], pair.panel


def test_panels_compute_the_ratios_the_alerts_read(tmp_path: Path) -> None:
    result = run(tmp_path, [_comparison(pair) for pair in PAIRS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_comparison_notices_a_panel_that_differs(tmp_path: Path) -> None:
    """A panel off by a replica (one replica's generations) must fail the comparison."""
    pair = PAIRS[0]
    comparison = _comparison(pair)
    comparison["expr"] = comparison["expr"].replace("sum by (vercel_team)", "max by (vercel_team)")
    assert comparison["expr"] != _comparison(pair)["expr"]
    result = run(tmp_path, [comparison])
    assert result.returncode != 0
