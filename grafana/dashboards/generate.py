"""Writes vercel-ai-gateway.json, the Grafana dashboard, from the panel list below.

The JSON is the shipped artefact (Grafana, the Helm chart and users read it); this script is
its source, so that 40 panels share one style and one set of selectors. After a change:

    .venv/bin/python grafana/dashboards/generate.py

tests/dashboard/test_dashboard_static.py fails when the JSON and this script disagree.

PromQL conventions, for several exporter replicas and several teams:
- values mirrored from the gateway (credits, reports, budgets, last-success times) are the
  same on every replica: ``max by (...)``;
- counters and histograms count each replica's own work: ``sum by (...)``;
- every selector carries ``job=~"$job"`` and, where the metric has it, ``team=~"$team"``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("vercel-ai-gateway.json")
UID = "vercel-ai-gateway"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

USD = "currencyUSD"
SECONDS = "s"
PERCENT = "percentunit"
TOKENS_PER_SECOND = "suffix: tokens/s"
GENERATIONS_PER_SECOND = "reqps"
IDS_PER_SECOND = "suffix: IDs/s"
COUNT = "short"

GREEN, YELLOW, ORANGE, RED, BLUE, PURPLE = "green", "yellow", "orange", "red", "blue", "purple"


def sel(metric: str, *matchers: str, team: bool = True) -> str:
    """A selector restricted to the dashboard's job and team variables."""
    parts = ['job=~"$job"']
    if team:
        parts.append('team=~"$team"')
    parts.extend(matchers)
    return f"{metric}{{{', '.join(parts)}}}"


def target(expr: str, legend: str = "__auto", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": True,
        "refId": ref,
        **extra,
    }


def instant(expr: str, legend: str = "__auto", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {**target(expr, legend, ref, **extra), "range": False, "instant": True}


def steps(*pairs: tuple[str, float | None]) -> dict[str, Any]:
    return {
        "mode": "absolute",
        "steps": [{"color": color, "value": value} for color, value in pairs],
    }


def fixed(color: str) -> dict[str, Any]:
    """A single colour: for values where no level is good or bad."""
    return steps((color, None))


LEGEND_TABLE = {
    "calcs": ["lastNotNull", "max"],
    "displayMode": "table",
    "placement": "right",
    "showLegend": True,
    "sortBy": "Last *",
    "sortDesc": True,
}


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    thresholds: dict[str, Any] | None = None,
    *,
    stack: bool = False,
    bars: bool = False,
    min_value: float | None = 0,
    max_value: float | None = None,
    show_thresholds: bool = False,
    width: int = 12,
    height: int = 8,
    legend: dict[str, Any] | None = None,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        "barAlignment": 0,
        "drawStyle": "bars" if bars else "line",
        "fillOpacity": 60 if bars else (25 if stack else 10),
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "pointSize": 4,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        "thresholdsStyle": {"mode": "line+area" if show_thresholds else "off"},
    }
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic"},
        "custom": custom,
        "mappings": [],
        "thresholds": thresholds or fixed(GREEN),
        "unit": unit,
    }
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": legend or LEGEND_TABLE,
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "_size": (width, height),
    }


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    thresholds: dict[str, Any],
    *,
    color_mode: str = "value",
    graph: bool = True,
    no_value: str | None = None,
    mappings: list[dict[str, Any]] | None = None,
    width: int = 4,
    height: int = 5,
    decimals: int | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": thresholds,
        "unit": unit,
    }
    if no_value is not None:
        defaults["noValue"] = no_value
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "percentChangeColorMode": "standard",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showPercentChange": False,
            "textMode": "value_and_name",
            "wideLayout": True,
        },
        "targets": targets,
        "_size": (width, height),
    }


def bargauge(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    thresholds: dict[str, Any],
    *,
    min_value: float | None = 0,
    max_value: float | None = None,
    width: int = 8,
    height: int = 8,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "thresholds"},
        "mappings": [],
        "thresholds": thresholds,
        "unit": unit,
    }
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": "gradient",
            "legend": {
                "calcs": [],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": False,
            },
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "auto",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        },
        "targets": targets,
        "_size": (width, height),
    }


def state_timeline(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    width: int = 12,
    height: int = 8,
) -> dict[str, Any]:
    return {
        "type": "state-timeline",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "custom": {
                    "fillOpacity": 80,
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "lineWidth": 0,
                },
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"color": RED, "index": 0, "text": "failing"},
                            "1": {"color": GREEN, "index": 1, "text": "ok"},
                        },
                    }
                ],
                "max": 1,
                "min": 0,
                "thresholds": steps((RED, None), (GREEN, 1)),
                "unit": "bool",
            },
            "overrides": [],
        },
        "options": {
            "alignValue": "left",
            "legend": {
                "calcs": [],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": False,
            },
            "mergeValues": True,
            "rowHeight": 0.8,
            "showValue": "never",
            "tooltip": {"mode": "multi", "sort": "none"},
        },
        "targets": targets,
        "_size": (width, height),
    }


def heatmap(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    width: int = 24,
    height: int = 9,
) -> dict[str, Any]:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "scaleDistribution": {"type": "linear"},
                },
                "thresholds": fixed(GREEN),
                "unit": SECONDS,
            },
            "overrides": [],
        },
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {
                "exponent": 0.5,
                "fill": "dark-orange",
                "mode": "scheme",
                "reverse": False,
                "scale": "exponential",
                "scheme": "Oranges",
                "steps": 64,
            },
            "exemplars": {"color": "rgba(96, 255, 255, 0.9)"},
            "filterValues": {"le": 1e-9},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "showValue": "never",
            "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": True},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": SECONDS},
        },
        "targets": targets,
        "_size": (width, height),
    }


def table(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    unit: str,
    overrides: list[dict[str, Any]],
    organize: dict[str, Any],
    *,
    width: int = 12,
    height: int = 8,
) -> dict[str, Any]:
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "custom": {
                    "align": "auto",
                    "cellOptions": {"type": "auto"},
                    "filterable": False,
                    "inspect": False,
                },
                "mappings": [],
                "thresholds": fixed(GREEN),
                "unit": unit,
            },
            "overrides": overrides,
        },
        "options": {
            "cellHeight": "sm",
            "frameIndex": 0,
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": organize["sort"]}],
        },
        "targets": targets,
        "transformations": [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "indexByName": {},
                    "renameByName": organize["rename"],
                },
            },
        ],
        "_size": (width, height),
    }


def unit_override(field: str, unit: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [{"id": "unit", "value": unit}],
    }


# --------------------------------------------------------------------------------------------
# Expressions shared by several panels.

BALANCE = sel("vercel_ai_gateway_credits_balance_usd")
USED = sel("vercel_ai_gateway_credits_used_usd")


def quantiles(metric: str, by: str, legend: str) -> list[dict[str, Any]]:
    """p50, p95 and p99 of a histogram; exemplars on the p95 query (one set per panel)."""
    out = []
    for ref, q in (("A", "0.5"), ("B", "0.95"), ("C", "0.99")):
        expr = (
            f"histogram_quantile({q}, sum by ({by}, le) "
            f"(rate({sel(metric + '_bucket')}[$__rate_interval])))"
        )
        label = f"p{round(float(q) * 100)}"
        out.append(target(expr, f"{legend} {label}", ref, exemplar=(ref == "B")))
    return out


def report_by(label: str, title: str, what: str, width: int = 8) -> dict[str, Any]:
    metric = sel(
        "vercel_ai_gateway_report_cost_usd",
        'window="month_to_date"',
        'cost_type="total"',
        f'{label}!=""',
    )
    expr = f"sort_desc(sum by (report, {label}) (max by (team, report, {label}) ({metric})))"
    return bargauge(
        title,
        f"Spend since the first of the month by {what}, from the exporter's Custom Reporting "
        f"queries (reports grouped by {label}, window month_to_date); summed over the selected "
        "teams. Empty when no such report is configured. Custom Reporting data can lag by a few "
        "minutes and needs a Pro or Enterprise plan.",
        [instant(expr, f"{{{{{label}}}}} ({{{{report}}}})")],
        USD,
        fixed(BLUE),
        width=width,
    )


# --------------------------------------------------------------------------------------------
# The rows.


def credits_row() -> list[dict[str, Any]]:
    burn_6h = f"(max by (team) (deriv({USED}[6h])) > 0)"
    return [
        stat(
            "Balance",
            "Remaining AI Gateway credits per team (GET /v1/credits), at most one poll interval "
            "old. Red under 10 USD, orange under 50 USD: the default thresholds of "
            "VercelAIGatewayCreditsCritical and VercelAIGatewayCreditsLow (teams may set their "
            "own). Empty when the exporter's data is older than its max staleness.",
            [target(f"max by (team) ({BALANCE})", "{{team}}")],
            USD,
            steps((RED, None), (ORANGE, 10), (GREEN, 50)),
            color_mode="background",
        ),
        stat(
            "Lifetime spend",
            "Total credits the team has ever spent on the AI Gateway (total_used of "
            "GET /v1/credits). Only grows with spend; a top-up does not change it.",
            [target(f"max by (team) ({USED})", "{{team}}")],
            USD,
            fixed(BLUE),
        ),
        stat(
            "Spend in the last 24 h",
            "Growth of the lifetime spend over the last 24 hours: what the team spent, whatever "
            "top-ups happened meanwhile.",
            [target(f"max by (team) (delta({USED}[24h]))", "{{team}}")],
            USD,
            fixed(BLUE),
        ),
        stat(
            "Burn rate per hour",
            "Average spend per hour over the last hour, from the slope of the lifetime spend "
            "(so a top-up never reads as negative spend).",
            [target(f"max by (team) (deriv({USED}[1h])) * 3600", "{{team}}")],
            USD,
            fixed(PURPLE),
        ),
        stat(
            "Time left at the current burn rate",
            "Balance divided by the average spend rate of the last 6 hours: the same estimate as "
            "VercelAIGatewayCreditsRunningOut. Red under 1 day (the alert's default horizon), "
            "orange under 7 days. Empty when the team spent nothing in 6 hours.",
            [target(f"max by (team) ({BALANCE}) / {burn_6h}", "{{team}}")],
            SECONDS,
            steps((RED, None), (ORANGE, 86400), (GREEN, 604800)),
            color_mode="background",
            no_value="No recent spend",
        ),
        stat(
            "Top-ups in the last 24 h",
            "Credits added in the last 24 hours: growth of balance + lifetime spend (the total "
            "ever bought), which only moves when credits are bought.",
            [
                target(
                    f"max by (team) (delta({BALANCE}[24h]) + delta({USED}[24h]))",
                    "{{team}}",
                )
            ],
            USD,
            fixed(GREEN),
            decimals=2,
        ),
        timeseries(
            "Balance and spend over time",
            "Balance, lifetime spend and their sum (credits bought) per team. Spend makes the "
            "balance fall while the lifetime spend rises; a top-up is a step up of the balance "
            "and of credits bought, with no change in lifetime spend.",
            [
                target(f"max by (team) ({BALANCE})", "{{team}} balance", "A"),
                target(f"max by (team) ({USED})", "{{team}} lifetime spend", "B"),
                target(
                    f"max by (team) ({BALANCE} + {USED})",
                    "{{team}} bought (balance + lifetime spend)",
                    "C",
                ),
            ],
            USD,
            width=12,
            height=9,
            legend={
                "calcs": ["lastNotNull"],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
            },
        ),
        timeseries(
            "Burn rate",
            "Spend per hour, from the slope of the lifetime spend over the preceding hour: "
            "never negative on a top-up.",
            [target(f"max by (team) (deriv({USED}[1h])) * 3600", "{{team}}")],
            USD,
            width=12,
            height=9,
            legend={
                "calcs": ["lastNotNull", "max"],
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
            },
        ),
    ]


def spend_row() -> list[dict[str, Any]]:
    cost = sel("vercel_ai_gateway_generation_cost_usd_sum")
    budget_labels = "team, scope_type, scope, name, refresh_period"
    budget_legend = "{{team}} · {{name}} ({{scope_type}} {{scope}}, {{refresh_period}})"
    return [
        timeseries(
            "Spend per second by model",
            "USD per second of the generations the exporter looked up, by model (sum of the "
            "generation cost histogram). Covers only generations whose IDs reach the exporter.",
            [target(f"sum by (model) (rate({cost}[$__rate_interval]))", "{{model}}")],
            USD,
            stack=True,
        ),
        timeseries(
            "Spend per second by provider",
            "USD per second of the generations the exporter looked up, by the provider that "
            "served them.",
            [target(f"sum by (provider) (rate({cost}[$__rate_interval]))", "{{provider}}")],
            USD,
            stack=True,
        ),
        timeseries(
            "Spend per day by model",
            "USD spent per model over the trailing 24 hours, from the generation cost histogram.",
            [target(f"sum by (model) (increase({cost}[1d]))", "{{model}}")],
            USD,
        ),
        timeseries(
            "Spend per day by provider",
            "USD spent per provider over the trailing 24 hours, from the generation cost "
            "histogram.",
            [target(f"sum by (provider) (increase({cost}[1d]))", "{{provider}}")],
            USD,
        ),
        report_by("model", "Month to date by model", "model"),
        report_by("provider", "Month to date by provider", "provider"),
        report_by("user", "Month to date by user", "user"),
        report_by("tag", "Month to date by tag", "tag", width=6),
        report_by("api_key_name", "Month to date by API key", "API key", width=6),
        table(
            "Month to date requests and tokens by model",
            "Requests, input and output tokens and total cost since the first of the month, "
            "by model, from the Custom Reporting queries grouped by model.",
            [
                instant(
                    "sum by (model) (max by (team, report, model) ("
                    + sel(
                        "vercel_ai_gateway_report_requests", 'window="month_to_date"', 'model!=""'
                    )
                    + "))",
                    ref="A",
                    format="table",
                ),
                instant(
                    "sum by (model) (max by (team, report, model) ("
                    + sel(
                        "vercel_ai_gateway_report_tokens",
                        'window="month_to_date"',
                        'type="input"',
                        'model!=""',
                    )
                    + "))",
                    ref="B",
                    format="table",
                ),
                instant(
                    "sum by (model) (max by (team, report, model) ("
                    + sel(
                        "vercel_ai_gateway_report_tokens",
                        'window="month_to_date"',
                        'type="output"',
                        'model!=""',
                    )
                    + "))",
                    ref="C",
                    format="table",
                ),
                instant(
                    "sum by (model) (max by (team, report, model) ("
                    + sel(
                        "vercel_ai_gateway_report_cost_usd",
                        'window="month_to_date"',
                        'cost_type="total"',
                        'model!=""',
                    )
                    + "))",
                    ref="D",
                    format="table",
                ),
            ],
            COUNT,
            [
                unit_override("Input tokens", "suffix: tokens"),
                unit_override("Output tokens", "suffix: tokens"),
                unit_override("Cost", USD),
            ],
            {
                "sort": "Cost",
                "rename": {
                    "Value #A": "Requests",
                    "Value #B": "Input tokens",
                    "Value #C": "Output tokens",
                    "Value #D": "Cost",
                    "model": "Model",
                },
            },
            width=12,
        ),
        bargauge(
            "Budgets used",
            "Share of each Vercel AI Gateway budget spent in its current period. Orange from "
            "75 %, red from 90 % (the default threshold of "
            "VercelAIGatewayBudgetNearlyExhausted). Empty when no budgets are published.",
            [
                instant(
                    f"max by ({budget_labels}) "
                    f"({sel('vercel_ai_gateway_budget_spend_usd')})"
                    f" / max by ({budget_labels}) "
                    f"({sel('vercel_ai_gateway_budget_limit_usd')} > 0)",
                    budget_legend,
                )
            ],
            PERCENT,
            steps((GREEN, None), (ORANGE, 0.75), (RED, 0.9)),
            max_value=1,
            width=12,
        ),
        table(
            "Budget limits and spend",
            "Limit, spend and BYOK spend of each budget in its current period.",
            [
                instant(
                    f"max by ({budget_labels}) ({sel('vercel_ai_gateway_budget_limit_usd')})",
                    ref="A",
                    format="table",
                ),
                instant(
                    f"max by ({budget_labels}) ({sel('vercel_ai_gateway_budget_spend_usd')})",
                    ref="B",
                    format="table",
                ),
                instant(
                    f"max by ({budget_labels}) ({sel('vercel_ai_gateway_budget_byok_spend_usd')})",
                    ref="C",
                    format="table",
                ),
            ],
            USD,
            [],
            {
                "sort": "Spend",
                "rename": {
                    "Value #A": "Limit",
                    "Value #B": "Spend",
                    "Value #C": "BYOK spend",
                    "team": "Team",
                    "scope_type": "Scope type",
                    "scope": "Scope",
                    "name": "Budget",
                    "refresh_period": "Period",
                },
            },
            width=12,
        ),
    ]


def latency_row() -> list[dict[str, Any]]:
    duration = sel("vercel_ai_gateway_generation_duration_seconds_bucket")
    exemplar_note = (
        " Exemplars (diamonds) mark single generations: hover one for its generation_id. They "
        "need Prometheus' --enable-feature=exemplar-storage; to make the ID a link, set the "
        "data source's exemplar link (exemplarTraceIdDestinations) with name generation_id."
    )
    return [
        timeseries(
            "Time to first token by model",
            "p50, p95 and p99 time to the first token per model (the gateway's latency field), "
            "from the time-to-first-token histogram." + exemplar_note,
            quantiles(
                "vercel_ai_gateway_generation_time_to_first_token_seconds", "model", "{{model}}"
            ),
            SECONDS,
            steps((GREEN, None), (ORANGE, 2), (RED, 5)),
            show_thresholds=False,
        ),
        timeseries(
            "Total duration by model",
            "p50, p95 and p99 total generation time per model, from the generation duration "
            "histogram." + exemplar_note,
            quantiles("vercel_ai_gateway_generation_duration_seconds", "model", "{{model}}"),
            SECONDS,
            steps((GREEN, None), (ORANGE, 30), (RED, 60)),
        ),
        heatmap(
            "Generation duration heatmap",
            "Generations per duration bucket over time (all selected models), from the "
            "generation duration histogram." + exemplar_note,
            [
                target(
                    f"sum by (le) (increase({duration}[$__rate_interval]))",
                    "{{le}}",
                    exemplar=True,
                    format="heatmap",
                    interval="",
                )
            ],
        ),
    ]


def tokens_row() -> list[dict[str, Any]]:
    tokens = "vercel_ai_gateway_generation_tokens_sum"
    all_types = sel(tokens)
    billed = sel(tokens, 'type=~"prompt|completion"')
    cached = sel(tokens, 'type="cached_read"')
    prompt = sel(tokens, 'type="prompt"')
    return [
        timeseries(
            "Tokens per second by type",
            "Tokens per second by type, from the generation token histograms. Not additive: "
            "cached_read (and cache_write) are part of the prompt tokens, reasoning part of the "
            "completion tokens.",
            [target(f"sum by (type) (rate({all_types}[$__rate_interval]))", "{{type}}")],
            TOKENS_PER_SECOND,
        ),
        timeseries(
            "Tokens per second by model",
            "Prompt plus completion tokens per second by model (the other types are subsets "
            "of these two).",
            [target(f"sum by (model) (rate({billed}[$__rate_interval]))", "{{model}}")],
            TOKENS_PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Cached-read share of prompt tokens",
            "Share of the prompt tokens read from the provider's prompt cache, per model; "
            "cached tokens are billed at a discount, so a higher share means cheaper prompts.",
            [
                target(
                    f"sum by (model) (rate({cached}[$__rate_interval]))"
                    f" / sum by (model) (rate({prompt}[$__rate_interval]))",
                    "{{model}}",
                )
            ],
            PERCENT,
            steps((ORANGE, None), (GREEN, 0.2)),
            max_value=1,
            width=24,
        ),
    ]


def generations_row() -> list[dict[str, Any]]:
    gens = "vercel_ai_gateway_generations_total"
    share = "(sum(rate({sel}[$__rate_interval])) or vector(0)) / sum(rate({all}[$__rate_interval]))"
    return [
        timeseries(
            "Generations per second by finish reason",
            "Looked-up generations per second by finish reason. A rise of length or "
            "content_filter usually means prompts or limits to fix; error means failed "
            "generations that may still cost.",
            [
                target(
                    f"sum by (finish_reason) (rate({sel(gens)}[$__rate_interval]))",
                    "{{finish_reason}}",
                )
            ],
            GENERATIONS_PER_SECOND,
            stack=True,
        ),
        timeseries(
            "Streamed and BYOK shares",
            "Share of generations that were streamed, and share that used BYOK credentials "
            "(billed by the provider, not from the credits).",
            [
                target(
                    share.format(sel=sel(gens, 'streamed="true"'), all=sel(gens)),
                    "streamed",
                    "A",
                ),
                target(
                    share.format(sel=sel(gens, 'byok="true"'), all=sel(gens)),
                    "BYOK",
                    "B",
                ),
            ],
            PERCENT,
            max_value=1,
        ),
        timeseries(
            "BYOK upstream cost per second by model",
            "What the providers charge directly for BYOK generations (upstream_inference_cost), "
            "per model. Not taken from the credits, so not in the spend panels.",
            [
                target(
                    "sum by (model) (rate("
                    f"{sel('vercel_ai_gateway_generation_byok_cost_usd_total')}"
                    "[$__rate_interval]))",
                    "{{model}}",
                )
            ],
            USD,
            stack=True,
        ),
        timeseries(
            "Web search calls per second by model",
            "Billable web-search calls made by generations, per model.",
            [
                target(
                    "sum by (model) (rate("
                    f"{sel('vercel_ai_gateway_generation_web_search_calls_total')}"
                    "[$__rate_interval]))",
                    "{{model}}",
                )
            ],
            "suffix: calls/s",
            stack=True,
        ),
    ]


def health_row() -> list[dict[str, Any]]:
    last_success = "vercel_ai_gateway_last_success_timestamp_seconds"
    return [
        state_timeline(
            "Upstream up per team",
            "Per team and exporter replica: did the last credits refresh succeed "
            "(vercel_ai_gateway_up)? Below, per report: did the last Custom Reporting query "
            "succeed? Red for 15 minutes fires VercelAIGatewayUpstreamFailing.",
            [
                target(
                    f"max by (team, instance) ({sel('vercel_ai_gateway_up')})",
                    "{{team}} credits @ {{instance}}",
                    "A",
                ),
                target(
                    f"max by (team, report) ({sel('vercel_ai_gateway_report_up')})",
                    "{{team}} report {{report}}",
                    "B",
                ),
            ],
            width=16,
        ),
        stat(
            "Exporter replicas",
            "Exporter processes publishing metrics, by version (from "
            "vercel_ai_gateway_exporter_build_info), and scrape targets of the job that are "
            "down. Down targets fire VercelAIGatewayExporterDown.",
            [
                target(
                    "count by (version) ("
                    f"{sel('vercel_ai_gateway_exporter_build_info', team=False)})",
                    "version {{version}}",
                    "A",
                ),
                target('count(up{job=~"$job"} == 0) or vector(0)', "targets down", "B"),
            ],
            COUNT,
            fixed(BLUE),
            graph=False,
            width=8,
            height=8,
        ),
        timeseries(
            "Age of the last success",
            "Time since the last successful request per team and endpoint (freshest replica), "
            "and per report. Orange after 10 minutes (credits stop being published), red after "
            "15 (VercelAIGatewayDataStale for credits; reports and budgets alert after 2 h). "
            "The generation endpoint is only called when there is traffic.",
            [
                target(
                    f"time() - max by (team, endpoint) ({sel(last_success)})",
                    "{{team}} {{endpoint}}",
                    "A",
                ),
                target(
                    "time() - max by (team, report) ("
                    f"{sel('vercel_ai_gateway_report_last_success_timestamp_seconds')})",
                    "{{team}} report {{report}}",
                    "B",
                ),
            ],
            SECONDS,
            steps((GREEN, None), (ORANGE, 600), (RED, 900)),
            show_thresholds=True,
        ),
        timeseries(
            "Upstream API calls by code",
            "Requests from the exporters to the AI Gateway API per second, by endpoint and "
            "result: an HTTP status, or timeout / network_error. 401/403: bad key; 429: rate "
            "limited; 5xx: gateway trouble.",
            [
                target(
                    "sum by (endpoint, code) (rate("
                    f"{sel('vercel_ai_gateway_api_requests_total')}[$__rate_interval]))",
                    "{{endpoint}} {{code}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Upstream API latency",
            "p95 duration of requests to the AI Gateway API by endpoint, all teams.",
            [
                target(
                    "histogram_quantile(0.95, sum by (endpoint, le) (rate("
                    + sel("vercel_ai_gateway_api_request_duration_seconds_bucket", team=False)
                    + "[$__rate_interval])))",
                    "{{endpoint}} p95",
                )
            ],
            SECONDS,
            steps((GREEN, None), (ORANGE, 2.5), (RED, 10)),
        ),
        timeseries(
            "Generation lookup outcomes",
            "Generation lookups per second by outcome: found; pending (not yet known upstream, "
            "retried later); rate_limited; error; rejected.",
            [
                target(
                    "sum by (outcome) (rate("
                    f"{sel('vercel_ai_gateway_generation_lookups_total')}[$__rate_interval]))",
                    "{{outcome}}",
                )
            ],
            "reqps",
            stack=True,
        ),
        timeseries(
            "Generation IDs received",
            "Generation IDs reaching the exporter per second, by source (http intake, log "
            "follower) and result (accepted, duplicate, rejected).",
            [
                target(
                    "sum by (source, result) (rate("
                    f"{sel('vercel_ai_gateway_generation_ids_received_total')}"
                    "[$__rate_interval]))",
                    "{{source}} {{result}}",
                )
            ],
            IDS_PER_SECOND,
            stack=True,
            width=8,
        ),
        timeseries(
            "Queue length",
            "Generation IDs waiting for a lookup, summed over the replicas (each has its own "
            "queue). A queue that keeps growing means lookups cannot keep up.",
            [
                target(
                    f"sum by (team) ({sel('vercel_ai_gateway_generation_queue_length')})",
                    "{{team}}",
                )
            ],
            COUNT,
            steps((GREEN, None), (ORANGE, 1000), (RED, 10000)),
            width=8,
        ),
        timeseries(
            "Abandoned lookups",
            "Generation IDs given up per second, by reason: not_found (never known upstream), "
            "max_age (too old), rejected (refused by the gateway), invalid (malformed). More "
            "than 10 % of IDs fires VercelAIGatewayGenerationLookupsFailing.",
            [
                target(
                    "sum by (reason) (rate("
                    f"{sel('vercel_ai_gateway_generations_abandoned_total')}"
                    "[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            IDS_PER_SECOND,
            stack=True,
            width=8,
        ),
        timeseries(
            "Lookup delay",
            "p50 and p95 time from receiving a generation ID to resolving it (the gateway "
            "publishes generations a few seconds after they finish).",
            [
                target(
                    "histogram_quantile(0.5, sum by (le) (rate("
                    + sel("vercel_ai_gateway_generation_lookup_delay_seconds_bucket")
                    + "[$__rate_interval])))",
                    "p50",
                    "A",
                ),
                target(
                    "histogram_quantile(0.95, sum by (le) (rate("
                    + sel("vercel_ai_gateway_generation_lookup_delay_seconds_bucket")
                    + "[$__rate_interval])))",
                    "p95",
                    "B",
                ),
            ],
            SECONDS,
            steps((GREEN, None), (ORANGE, 60), (RED, 300)),
            width=8,
        ),
        timeseries(
            "Report queries by code",
            "Custom Reporting queries per second by report and HTTP status.",
            [
                target(
                    "sum by (report, code) (rate("
                    f"{sel('vercel_ai_gateway_report_queries_total')}[$__rate_interval]))",
                    "{{report}} {{code}}",
                )
            ],
            "reqps",
            stack=True,
            width=8,
        ),
        stat(
            "Report query spend in the last 24 h",
            "What the exporter's own Custom Reporting queries cost in the last 24 hours (each "
            "query is billed). Raise the report interval if this matters.",
            [
                target(
                    "sum by (team) (increase("
                    f"{sel('vercel_ai_gateway_report_query_cost_usd_total')}[24h]))",
                    "{{team}}",
                )
            ],
            USD,
            steps((GREEN, None), (ORANGE, 1), (RED, 10)),
            decimals=2,
            width=8,
            height=8,
        ),
    ]


ROWS = (
    ("Credits", credits_row),
    ("Spend breakdown", spend_row),
    ("Latency", latency_row),
    ("Tokens", tokens_row),
    ("Generations", generations_row),
    ("Exporter health", health_row),
)


def variables() -> list[dict[str, Any]]:
    return [
        {
            "description": "Prometheus that scrapes the exporter.",
            "label": "Data source",
            "name": "datasource",
            "options": [],
            "query": "prometheus",
            "refresh": 1,
            "regex": "",
            "type": "datasource",
        },
        {
            "datasource": DATASOURCE,
            "description": "Scrape job of the exporter (all its replicas).",
            "includeAll": False,
            "label": "Job",
            "multi": False,
            "name": "job",
            "options": [],
            "query": {
                "qryType": 1,
                "query": "label_values(vercel_ai_gateway_exporter_build_info, job)",
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            },
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "type": "query",
        },
        {
            "datasource": DATASOURCE,
            "description": "Vercel teams (API keys) the exporter watches.",
            "includeAll": True,
            "label": "Team",
            "multi": True,
            "name": "team",
            "options": [],
            "query": {
                "qryType": 1,
                "query": 'label_values(vercel_ai_gateway_up{job=~"$job"}, team)',
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            },
            "refresh": 2,
            "regex": "",
            "sort": 1,
            "type": "query",
        },
    ]


def layout(rows: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    """Rows one under the other; panels left to right, wrapping at Grafana's 24 columns."""
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for title, build in rows:
        panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in build():
            width, height = panel.pop("_size")
            if x + width > 24:
                y += line_height
                x = 0
                line_height = 0
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            panel["id"] = next_id
            next_id += 1
            x += width
            line_height = max(line_height, height)
            panels.append(panel)
        y += line_height
    return panels


def dashboard() -> dict[str, Any]:
    return {
        "annotations": {"list": []},
        "description": (
            "Vercel AI Gateway credits, spend, latency, tokens and the exporter's health, from "
            "the vercel-ai-gateway-exporter. Alerts: grafana/alerts/vercel-ai-gateway.rules.yaml; "
            "runbook: grafana/RUNBOOK.md."
        ),
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": False,
                "icon": "doc",
                "includeVars": False,
                "keepTime": False,
                "tags": [],
                "targetBlank": True,
                "title": "Runbook",
                "tooltip": "What each alert means and what to do",
                "type": "link",
                "url": "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter"
                "/blob/main/grafana/RUNBOOK.md",
            }
        ],
        "panels": layout(ROWS),
        "refresh": "1m",
        "schemaVersion": 41,
        "tags": ["vercel", "ai-gateway", "finops", "llm"],
        "templating": {"list": variables()},
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "Vercel AI Gateway",
        "uid": UID,
        "version": 1,
        "weekStart": "",
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
