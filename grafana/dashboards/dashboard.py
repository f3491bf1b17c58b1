"""The whole dashboard: variables, the rows laid out on Grafana's grid, and its JSON text."""

from __future__ import annotations

import json
from pathlib import Path

from exporter import metrics
from grafana.dashboards.panels import DATASOURCE, Json, Row
from grafana.dashboards.queries import TEAM_LABEL, Price
from grafana.dashboards.rows import ROWS, gateway

OUTPUT = Path(__file__).with_name("vercel-ai-gateway.json")
UID = "vercel-ai-gateway"
GRID_WIDTH = 24
RUNBOOK_URL = (
    "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter/blob/main/"
    "grafana/RUNBOOK.md"
)


def query_variable(name: str, label: str, description: str, selector: str) -> Json:
    """A multi-select variable listing the values of label ``name``, with an All value that
    matches any non-empty value (what Grafana's dashboard linter asks for job and instance)."""
    return {
        "allValue": ".+",
        "datasource": DATASOURCE,
        "description": description,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {
            "qryType": 1,
            "query": f"label_values({selector}, {name})",
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def variables() -> list[Json]:
    build_info = metrics.BUILD_INFO.name
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
        query_variable(
            "job", "Job", "Scrape jobs of the exporter (all their replicas).", build_info
        ),
        query_variable(
            "instance",
            "Instance",
            "Exporter replicas (scrape targets) of the selected jobs.",
            f'{build_info}{{job=~"$job"}}',
        ),
        query_variable(
            TEAM_LABEL,
            "Vercel team",
            "Vercel teams (API keys) the selected exporters watch.",
            f'{metrics.SOURCE_UP.name}{{job=~"$job", instance=~"$instance"}}',
        ),
        attribution_variable(),
        *(textbox_variable(price) for price in gateway.PRICES),
    ]


def attribution_variable() -> Json:
    """The configured attribution labels: label names, so no regex All value (All repeats the
    Attribution row's panels for every label)."""
    variable = query_variable(
        "label",
        "Attribution",
        "Attribution labels the selected exporters are configured with (attribution.labels); "
        "the Attribution row repeats its panels for each.",
        f'{metrics.ATTRIBUTION_INFO.name}{{job=~"$job", instance=~"$instance"}}',
    )
    del variable["allValue"]
    return {**variable, "name": "attribution"}


def textbox_variable(price: Price) -> Json:
    """A number the user may correct on the dashboard; ``default`` when the dashboard loads."""
    current = {"text": price.default, "value": price.default}
    return {
        "current": current,
        "description": price.description,
        "hide": 0,
        "label": price.label,
        "name": price.name,
        "options": [{**current, "selected": True}],
        "query": price.default,
        "type": "textbox",
    }


def layout(rows: tuple[Row, ...]) -> list[Json]:
    """Rows one under the other; panels left to right, wrapping at the grid's 24 columns."""
    panels: list[Json] = []
    y = 0
    for row in rows:
        panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "id": len(panels) + 1,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        y += 1
        x = line_height = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                y, x, line_height = y + line_height, 0, 0
            placed = panel.json()
            placed["gridPos"] = {"h": panel.height, "w": panel.width, "x": x, "y": y}
            placed["id"] = len(panels) + 1
            panels.append(placed)
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return panels


def dashboard() -> Json:
    return {
        "annotations": {"list": []},
        "description": (
            "Vercel AI Gateway credits, spend, latency, tokens and the exporter's health, from "
            "the vercel-ai-gateway-exporter. Alerts and recording rules: "
            "grafana/rules/vercel-ai-gateway.rules.yaml; runbook: grafana/RUNBOOK.md."
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
                "url": RUNBOOK_URL,
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
    """The dashboard as committed: indented JSON with a final newline."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"
