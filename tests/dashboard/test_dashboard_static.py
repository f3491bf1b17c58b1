"""What the dashboard must be, checked on the JSON alone (no server needed).

Conventions: datasource/job/instance/vercel_team variables, a stable uid, tags, a unit,
thresholds and a description on every panel, every selector restricted to the variables,
$__rate_interval for rates, and queries that keep the metric contract (exporter.metrics): max
for values mirrored from the gateway, sum for counters and histograms, and no sum over a
family's fixed_for_sum labels. Grafana's dashboard linter rules: tests/dashboard/test_lint.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from exporter import metrics
from grafana.dashboards.dashboard import render
from tests.dashboard.queries import VARIABLES, textbox_defaults
from tests.rules import recorded
from tests.support import promql
from tests.support.processes import REPO_ROOT

GRAFANA = REPO_ROOT / "grafana"
DASHBOARD_PATH = GRAFANA / "dashboards" / "vercel-ai-gateway.json"
RULE_FILE = GRAFANA / "rules" / "vercel-ai-gateway.rules.yaml"
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
UNITS = {"currencyUSD", "s", "percentunit", "short", "reqps", "Bps", "bool"}
ARROW = "\u203a"  # how RUNBOOK.md writes row > panel
# Range windows other than $__rate_interval must be deliberate, long ones.
MIN_FIXED_WINDOW_SECONDS = 3600


def _load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_PATH.read_text()))


DASHBOARD = _load()
RECORDED = recorded.recorded_families(recorded.records(RULE_FILE))
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
ROWS = [p for p in DASHBOARD["panels"] if p["type"] == "row"]


def _panel_id(panel: dict[str, Any]) -> str:
    return f"{panel['id']}:{panel['title']}"


def _targets() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(panel, t) for panel in PANELS for t in panel["targets"]]


def test_json_is_what_the_generator_writes() -> None:
    assert DASHBOARD_PATH.read_text() == render(), (
        "grafana/dashboards/vercel-ai-gateway.json differs from what grafana.dashboards "
        "builds: edit the package and run '.venv/bin/python -m grafana.dashboards'"
    )


def test_identity_tags_and_time() -> None:
    assert DASHBOARD["uid"] == "vercel-ai-gateway"
    assert DASHBOARD["title"] == "Vercel AI Gateway"
    assert {"vercel", "ai-gateway"} <= set(DASHBOARD["tags"])
    assert DASHBOARD["id"] is None, "a provisioned dashboard must not carry a database id"
    assert "__inputs" not in DASHBOARD and "__requires" not in DASHBOARD


def test_variables() -> None:
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    prices = list(textbox_defaults(DASHBOARD))
    assert list(variables) == ["datasource", *VARIABLES, "attribution", *prices]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in VARIABLES:
        var = variables[name]
        assert var["type"] == "query"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert var["refresh"] == 2, f"${name} must refresh on time range change"
        assert re.fullmatch(rf"label_values\(.+, {name}\)", var["query"]["query"])
        assert var["multi"] is True and var["includeAll"] is True and var["allValue"] == ".+"
    # Each variable lists only what the ones before it selected.
    assert '{job=~"$job"}' in variables["instance"]["query"]["query"]
    assert '{job=~"$job", instance=~"$instance"}' in variables["vercel_team"]["query"]["query"]
    # The attribution variable holds label names (from the info family), not values.
    attribution = variables["attribution"]
    assert attribution["multi"] is True and "allValue" not in attribution
    assert attribution["query"]["query"] == (
        f'label_values({metrics.ATTRIBUTION_INFO.name}{{job=~"$job", instance=~"$instance"}}, '
        "label)"
    )
    repeated = [p for p in PANELS if p.get("repeat")]
    assert repeated and all(p["repeat"] == "attribution" for p in repeated)
    assert all("by ($attribution)" in t["expr"] for p in repeated for t in p["targets"])


def test_drain_prices_are_variables_the_cost_panel_multiplies_by() -> None:
    """Two text boxes, defaulting to a third-party summary's prices, each saying to check
    Vercel's pricing page; the estimated drain cost uses both and nothing else does."""
    variables = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
    prices = textbox_defaults(DASHBOARD)
    assert sorted(prices.values()) == ["0.05", "0.50"]
    for name, default in prices.items():
        var = variables[name]
        assert "pricing page" in var["description"]
        assert var["current"] == {"text": default, "value": default}
    (cost,) = [p for p in PANELS if any(f"${n}" in t["expr"] for n in prices for t in p["targets"])]
    assert cost["fieldConfig"]["defaults"]["unit"] == "currencyUSD"
    assert "pricing page" in cost["description"]
    (target,) = cost["targets"]
    assert all(f"* ${name}" in target["expr"] for name in prices)
    assert promql.metric_names(target["expr"]) == {
        metrics.DRAIN_TRACE_EVENTS.name,
        metrics.DRAIN_RECEIVED_BYTES.name,
    }


def test_rows_in_order() -> None:
    assert [r["title"] for r in ROWS] == [
        "Credits",
        "Spend breakdown",
        "Attribution",
        "Prices and savings",
        "Latency",
        "Providers",
        "Tokens",
        "Generations",
        "Gateway requests (trace drain)",
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
        "Recent spend",
        "Burn rate per hour",
        "Spend per second by model",
        "Spend per day by provider",
        "Month to date by model",
        "BYOK upstream cost per second by model",
        "Report query spend in the last 24 h",
        "Spend per second by operation",
        "Estimated drain cost in the last 24 h",
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
    axes = {p["title"]: p["fieldConfig"]["defaults"].get("custom", {}) for p in PANELS}
    for title in ("Tokens per second by type", "Tokens per second by model"):
        assert units[title] == "short" and axes[title]["axisLabel"] == "tokens/s", title
    for title in (
        "Budgets used",
        "Cache-read share of input tokens",
        "Streamed and BYOK shares",
        "Spend coverage",
        "Failed share of requests",
        "Provider error ratio",
        "Fallbacks per request",
    ):
        assert units[title] == "percentunit", title
    assert units["Drain bytes received"] == "Bps"


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
    for selector in promql.selectors(expr):
        assert selector.matcher("job") == ("=~", "$job"), f'{selector.metric}: job=~"$job"'
        assert selector.matcher("instance") == ("=~", "$instance"), selector.metric
        if selector.metric == "up":  # Prometheus' own, per scrape target
            continue
        family = promql.family_of(selector.metric, RECORDED)
        assert family is not None, f"{selector.metric} is not in exporter.metrics nor recorded"
        if "vercel_team" in family.labels:
            assert selector.matcher("vercel_team") == ("=~", "$vercel_team"), selector.metric
        assert promql.contract_problems(expr, selector, family) == []


def test_the_contract_check_catches_a_sum_over_token_types() -> None:
    """The check above fails on the mistakes it exists for, not only on typos."""
    tokens = f'{metrics.GENERATION_TOKENS.name}_sum{{job=~"$job", instance=~"$instance"}}'
    bad = f"sum by (model) (rate({tokens}[$__rate_interval]))"
    (selector,) = promql.selectors(bad)
    family = promql.family_of(selector.metric)
    assert family is not None
    assert "summed over ['token_type']" in " ".join(promql.contract_problems(bad, selector, family))
    balance = f'{metrics.CREDITS_BALANCE.name}{{job=~"$job"}}'
    (selector,) = promql.selectors(f"sum({balance})")
    family = promql.family_of(selector.metric)
    assert family is not None
    assert promql.contract_problems(f"sum({balance})", selector, family)


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
        family = promql.family_of(window.metric or "")
        if family is not None and family.type.value in ("counter", "histogram"):
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
            if window.metric == metrics.CREDITS_USED.name:
                assert window.function in ("delta", "deriv"), _panel_id(panel)


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
    assert 'instance=\\"' not in text and 'instance!=\\"' not in text
    assert "[1m]" not in text and "[5m]" not in text
