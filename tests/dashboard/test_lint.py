"""The dashboard passes the rules of Grafana's dashboard linter
(github.com/grafana/dashboard-linter).

The linter is a Go program with no release this project can install, so its default rules are
restated here, each as the linter words it (lint/rule_*.go), and run on the JSON; a second test
plants one defect per rule in a copy and expects each to be reported. Parsing of the PromQL
(target-promql-rule, template-label-promql-rule) is promtool's job: tests/dashboard/test_promql.py.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.dashboard.queries import load_dashboard
from tests.support import promql

Json = dict[str, Any]

# The units of the linter's panel-units-rule that a dashboard like this one may use: its list
# is Grafana's value formats; these are its misc, currency, time, throughput, data rate and
# boolean ones.
LINTER_UNITS = frozenset(
    {"none", "string", "short", "percent", "percentunit", "locale", "currencyUSD"}
    | {"ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms"}
    | {"cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm"}
    | {"Bps", "binBps", "bps", "binbps"}
    | {"bool", "bool_yes_no", "bool_on_off"}
)
UNIT_CHECKED_TYPES = ("stat", "singlestat", "graph", "table", "timeseries", "gauge")
TEMPLATED_DATASOURCES = ("$datasource", "${datasource}")
COUNTER_FUNCTIONS = ("rate", "irate", "increase")


def _panels(dashboard: Json) -> list[Json]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _template_problems(dashboard: Json) -> list[str]:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    problems = []
    datasources = [v for v in variables.values() if v["type"] == "datasource"]
    if [(v["name"], v.get("label")) for v in datasources] != [("datasource", "Data source")]:
        problems.append("template-datasource-rule: one datasource variable, 'Data source'")
    for name in ("job", "instance"):
        var = variables.get(name)
        if var is None:
            problems.append(f"template-{name}-rule: is missing the {name} template")
            continue
        if var.get("datasource", {}).get("uid") not in TEMPLATED_DATASOURCES:
            problems.append(f"template-{name}-rule: should use datasource '$datasource'")
        if var["type"] != "query":
            problems.append(f"template-{name}-rule: should be a Prometheus query")
        if var.get("label") != name.title():
            problems.append(f"template-{name}-rule: should be labeled '{name.title()}'")
        if not var.get("multi"):
            problems.append(f"template-{name}-rule: should be a multi select")
        if var.get("allValue") != ".+" or not var.get("includeAll"):
            problems.append(f"template-{name}-rule: allValue should be '.+'")
    for var in variables.values():
        if var["type"] == "query" and var.get("refresh") != 2:
            problems.append(f"template-on-time-change-reload-rule: {var['name']} refresh 2")
    return problems


def _panel_problems(panel: Json) -> list[str]:
    where = f"panel {panel['title']!r}"
    problems = []
    if panel.get("datasource", {}).get("uid") not in TEMPLATED_DATASOURCES:
        problems.append(f"panel-datasource-rule: {where} does not use a templated datasource")
    if not panel.get("title", "").strip() or not panel.get("description", "").strip():
        problems.append(f"panel-title-description-rule: {where} has no title or description")
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if panel["type"] in UNIT_CHECKED_TYPES and unit not in LINTER_UNITS:
        problems.append(f"panel-units-rule: {where} has no or invalid units defined: {unit!r}")
    if not panel.get("targets"):
        problems.append(f"panel-no-targets-rule: {where} has no targets")
    return problems


def _target_problems(panel: Json, target: Json) -> list[str]:
    where = f"panel {panel['title']!r} target {target['refId']}"
    expr = target["expr"]
    problems = []
    for selector in promql.selectors(expr):
        for label in ("job", "instance"):
            if selector.matcher(label) != ("=~", f"${label}"):
                problems.append(f"target-{label}-rule: {where}: {selector.metric} lacks {label}")
        calls = promql.enclosing_calls(expr, selector.start)
        if selector.metric.endswith("_total") and (not calls or calls[0] not in COUNTER_FUNCTIONS):
            problems.append(f"target-counter-agg-rule: {where}: {selector.metric} not in rate")
    for window in promql.range_windows(expr):
        if window.function in ("rate", "irate") and window.text != "$__rate_interval":
            problems.append(f"target-rate-interval-rule: {where}: should use $__rate_interval")
    return problems


def lint(dashboard: Json) -> list[str]:
    """What the linter's default rules report on ``dashboard`` (empty: nothing)."""
    problems = _template_problems(dashboard)
    for panel in _panels(dashboard):
        problems += _panel_problems(panel)
        for target in panel.get("targets", []):
            problems += _target_problems(panel, target)
    return problems


def test_the_dashboard_passes_the_linter_rules() -> None:
    assert lint(load_dashboard()) == []


def _variable(dashboard: Json, name: str) -> Json:
    (var,) = [v for v in dashboard["templating"]["list"] if v["name"] == name]
    found: Json = var
    return found


def _first(dashboard: Json, panel_type: str) -> Json:
    return next(p for p in _panels(dashboard) if p["type"] == panel_type)


def _drop_instance(dashboard: Json) -> None:
    target = _first(dashboard, "stat")["targets"][0]
    target["expr"] = re.sub(r',\s*instance=~"\$instance"', "", target["expr"])


def _rate_over_5m(dashboard: Json) -> None:
    targets = [t for p in _panels(dashboard) for t in p["targets"]]
    target = next(t for t in targets if "rate(" in t["expr"])
    target["expr"] = target["expr"].replace("$__rate_interval", "5m")


def _bare_counter(dashboard: Json) -> None:
    _first(dashboard, "stat")["targets"][0]["expr"] = 'x_total{job=~"$job", instance=~"$instance"}'


DEFECTS = {
    "template-job-rule": lambda d: _variable(d, "job").update(multi=False),
    "template-instance-rule": lambda d: d["templating"]["list"].remove(_variable(d, "instance")),
    "template-on-time-change-reload-rule": lambda d: _variable(d, "vercel_team").update(refresh=1),
    "panel-units-rule": lambda d: _first(d, "timeseries")["fieldConfig"]["defaults"].update(
        unit="suffix: tokens/s"
    ),
    "panel-datasource-rule": lambda d: _first(d, "table").update(datasource={"uid": "prom"}),
    "target-instance-rule": _drop_instance,
    "target-rate-interval-rule": _rate_over_5m,
    "target-counter-agg-rule": _bare_counter,
}


@pytest.mark.parametrize("rule", sorted(DEFECTS))
def test_each_rule_reports_its_defect(rule: str) -> None:
    dashboard = copy.deepcopy(load_dashboard())
    DEFECTS[rule](dashboard)
    problems = lint(dashboard)
    assert problems and all(p.startswith(f"{rule}:") for p in problems), problems
