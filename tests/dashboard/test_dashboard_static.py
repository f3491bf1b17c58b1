"""What the dashboard must be, checked on the JSON alone (no server needed).

Conventions (issue 5): datasource/job/team variables, a stable uid, tags, a unit, thresholds
and a description on every panel, every selector restricted to $job and $team, $__rate_interval
for rates, and aggregations that stay right with several exporter replicas (max for values
mirrored from the gateway, sum for counters and histograms; tests/support/metric_contract.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support import promql
from tests.support.metric_contract import FAMILIES, allowed_labels, family_of
from tests.support.processes import REPO_ROOT

GRAFANA = REPO_ROOT / "grafana"
DASHBOARD_PATH = GRAFANA / "dashboards" / "vercel-ai-gateway.json"
GENERATOR = GRAFANA / "dashboards" / "generate.py"
RUNBOOK = GRAFANA / "RUNBOOK.md"

# Keys a Prometheus query of Grafana may carry (the schema leaves targets open-ended).
TARGET_KEYS = {
    "datasource",
    "editorMode",
    "expr",
    "legendFormat",
    "range",
    "instant",
    "refId",
    "exemplar",
    "format",
    "interval",
    "hide",
    "intervalFactor",
}
UNITS = {
    "currencyUSD",
    "s",
    "percentunit",
    "short",
    "reqps",
    "bool",
    "suffix: tokens/s",
    "suffix: IDs/s",
    "suffix: calls/s",
}
ARROW = "\u203a"  # how RUNBOOK.md writes row > panel
# Range windows other than $__rate_interval must be deliberate, long ones.
MIN_FIXED_WINDOW_SECONDS = 3600


def _load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_PATH.read_text()))


DASHBOARD = _load()
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
ROWS = [p for p in DASHBOARD["panels"] if p["type"] == "row"]


def _panel_id(panel: dict[str, Any]) -> str:
    return f"{panel['id']}:{panel['title']}"


def _targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, t) for panel in PANELS for t in panel["targets"]]


def test_json_is_what_the_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("dashboard_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DASHBOARD_PATH.read_text() == module.render(), (
        "grafana/dashboards/vercel-ai-gateway.json differs from generate.py's output: edit "
        "generate.py and run '.venv/bin/python grafana/dashboards/generate.py'"
    )


def test_identity_tags_and_time() -> None:
    assert DASHBOARD["uid"] == "vercel-ai-gateway"
    assert DASHBOARD["title"] == "Vercel AI Gateway"
    assert {"vercel", "ai-gateway"} <= set(DASHBOARD["tags"])
    assert DASHBOARD["id"] is None, "a provisioned dashboard must not carry a database id"
    assert "__inputs" not in DASHBOARD and "__requires" not in DASHBOARD


def test_variables() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "team"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "team"):
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert var["refresh"] == 2, f"${name} must refresh on time range change"
        assert re.fullmatch(rf"label_values\(.+, {name}\)", var["query"]["query"])
    assert variables["team"]["multi"] is True and variables["team"]["includeAll"] is True
    assert '{job=~"$job"}' in variables["team"]["query"]["query"]


def test_rows_in_order() -> None:
    assert [r["title"] for r in ROWS] == [
        "Credits",
        "Spend breakdown",
        "Latency",
        "Tokens",
        "Generations",
        "Exporter health",
    ]


@pytest.mark.parametrize("panel", PANELS, ids=_panel_id)
def test_panel_basics(panel: dict[str, Any]) -> None:
    assert panel["title"].strip()
    assert len(panel.get("description", "")) >= 40, "every panel needs a real description"
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    defaults = panel["fieldConfig"]["defaults"]
    assert defaults.get("unit") in UNITS, f"unit {defaults.get('unit')!r}"
    thresholds = defaults.get("thresholds")
    assert thresholds and thresholds["mode"] == "absolute" and thresholds["steps"]
    assert thresholds["steps"][0]["value"] is None, "the first threshold step is the base"
    values = [s["value"] for s in thresholds["steps"][1:]]
    assert values == sorted(values), "threshold steps must increase"
    assert panel["targets"], "a panel without queries"
    refs = [t["refId"] for t in panel["targets"]]
    assert len(refs) == len(set(refs)), "duplicate refId"
    for t in panel["targets"]:
        assert set(t) <= TARGET_KEYS, f"unknown query keys {set(t) - TARGET_KEYS}"
        assert t["datasource"] == panel["datasource"]
        assert t["expr"].strip()


def test_money_panels_use_usd_and_time_panels_seconds() -> None:
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in PANELS}
    for title in (
        "Balance",
        "Lifetime spend",
        "Spend in the last 24 h",
        "Burn rate per hour",
        "Spend per second by model",
        "Spend per day by provider",
        "Month to date by model",
        "BYOK upstream cost per second by model",
        "Report query spend in the last 24 h",
    ):
        assert units[title] == "currencyUSD", title
    for title in (
        "Time left at the current burn rate",
        "Time to first token by model",
        "Total duration by model",
        "Generation duration heatmap",
        "Age of the last success",
        "Lookup delay",
    ):
        assert units[title] == "s", title
    for title in ("Tokens per second by type", "Tokens per second by model"):
        assert units[title] == "suffix: tokens/s", title
    for title in ("Budgets used", "Cached-read share of prompt tokens", "Streamed and BYOK shares"):
        assert units[title] == "percentunit", title


def test_balance_thresholds_match_the_alert_defaults() -> None:
    balance = next(p for p in PANELS if p["title"] == "Balance")
    steps = balance["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps] == [
        ("red", None),
        ("orange", 10),
        ("green", 50),
    ]


def test_layout_has_no_overlaps_and_fills_the_width() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, _panel_id(panel)
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{_panel_id(panel)} overlaps {cells[(x, y)]}"
                cells[(x, y)] = _panel_id(panel)
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in DASHBOARD["panels"])
    for y in range(bottom):
        row = [x for x in range(24) if (x, y) in cells]
        assert len(row) == 24, f"grid line {y} is not filled: columns {row}"
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("panel", "target"), _targets(), ids=[f"{_panel_id(p)}/{t['refId']}" for p, t in _targets()]
)
def test_selectors_follow_the_contract(panel: dict[str, Any], target: dict[str, Any]) -> None:
    expr = target["expr"]
    found = promql.selectors(expr)
    if not found:
        # The only other metric allowed: Prometheus' own up for the exporter's job.
        assert promql.identifiers(expr) & {"up"} and 'up{job=~"$job"}' in expr, expr
    for selector in found:
        family = family_of(selector.metric)
        assert family is not None, f"{selector.metric} is not in the metric contract"
        labels = {name for name, _, _ in selector.matchers}
        assert labels <= allowed_labels(family), (
            f"{selector.metric} has no label(s) {labels - allowed_labels(family)}"
        )
        assert selector.matcher("job") == ("=~", "$job"), f'{selector.metric}: job=~"$job"'
        if "team" in family.labels:
            assert selector.matcher("team") == ("=~", "$team"), f'{selector.metric}: team=~"$team"'
        aggregation = promql.nearest_aggregation(expr, selector.start)
        assert aggregation in family.aggregations, (
            f"{selector.metric} is aggregated with {aggregation!r}; with several replicas it "
            f"needs one of {sorted(map(str, family.aggregations))}"
        )


@pytest.mark.parametrize(
    ("panel", "target"), _targets(), ids=[f"{_panel_id(p)}/{t['refId']}" for p, t in _targets()]
)
def test_range_windows(panel: dict[str, Any], target: dict[str, Any]) -> None:
    for window in promql.range_windows(target["expr"]):
        if window.text == "$__rate_interval":
            continue
        assert promql.duration_seconds(window.text) >= MIN_FIXED_WINDOW_SECONDS, (
            f"[{window.text}] on {window.metric}: use $__rate_interval, or a deliberate window "
            "of an hour or more"
        )
        family = family_of(window.metric or "")
        if family is not None and family.kind in ("counter", "histogram"):
            assert window.function == "increase", (
                f"a fixed window on counter {window.metric} is for totals (increase), rates use "
                "$__rate_interval"
            )


def test_rates_of_counters_use_rate_interval() -> None:
    rates = [
        w for _, t in _targets() for w in promql.range_windows(t["expr"]) if w.function == "rate"
    ]
    assert rates
    assert all(w.text == "$__rate_interval" for w in rates), rates


def test_lifetime_spend_is_never_read_as_a_counter() -> None:
    """increase()/rate() would count a small downward correction upstream as a huge spend."""
    for panel, target in _targets():
        for window in promql.range_windows(target["expr"]):
            if window.metric == "vercel_ai_gateway_credits_used_usd":
                assert window.function in ("delta", "deriv"), _panel_id(panel)


def test_every_metric_family_has_a_panel() -> None:
    used = {
        family_of(s.metric).name  # type: ignore[union-attr]
        for _, t in _targets()
        for s in promql.selectors(t["expr"])
        if family_of(s.metric) is not None
    }
    # Configured thresholds are for the alert rules, not for looking at.
    expected = {f.name for f in FAMILIES if "_alert_" not in f.name}
    assert expected - used == set(), "metric families without a panel"


def test_histogram_panels_show_exemplars() -> None:
    titles = {
        "Time to first token by model",
        "Total duration by model",
        "Generation duration heatmap",
    }
    for panel in PANELS:
        if panel["title"] in titles:
            assert any(t.get("exemplar") for t in panel["targets"]), panel["title"]
            assert "generation_id" in panel["description"]


def test_runbook_mentions_only_existing_panels() -> None:
    """RUNBOOK.md points at panels as *Row \u203a Panel* (in italics): those must exist."""
    rows = {r["title"] for r in ROWS}
    placed: dict[str, str] = {}
    current = ""
    for p in DASHBOARD["panels"]:
        if p["type"] == "row":
            current = p["title"]
        else:
            placed[p["title"]] = current
    refs = re.findall(rf"\*([^*]+?) {ARROW} ([^*]+?)\*", RUNBOOK.read_text())
    assert len(refs) >= 10
    for row, wrapped in refs:
        title = " ".join(wrapped.split())  # Markdown may wrap a title over two lines
        assert row in rows, f"RUNBOOK names a row {row!r} that the dashboard lacks"
        assert placed.get(title) == row, (
            f"RUNBOOK names a panel {row} {ARROW} {title} that is not there"
        )


def test_uses_no_hardcoded_interval_or_instance() -> None:
    text = DASHBOARD_PATH.read_text()
    assert "instance=" not in text
    assert "[1m]" not in text and "[5m]" not in text


def test_generator_output_path() -> None:
    assert Path(GENERATOR).read_text().count("vercel-ai-gateway.json") >= 1
