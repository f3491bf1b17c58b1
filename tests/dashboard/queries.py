"""Every PromQL query of the dashboard, with Grafana's variables replaced for Prometheus."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tests.support.processes import REPO_ROOT

DASHBOARD_PATH = REPO_ROOT / "grafana" / "dashboards" / "vercel-ai-gateway.json"
VARIABLES = ("job", "instance", "vercel_team")
# Variables that hold a label name (the Attribution row groups by them), and the name each
# stands for when a test does not say: the one the demo configures.
LABEL_NAME_VARIABLES = {"attribution": "feature"}

_LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+),\s*(?P<label>[A-Za-z_]\w*)\)")


@dataclass(frozen=True)
class Query:
    where: str  # "panel 12 'Spend per second by model' A" or "variable vercel_team"
    expr: str  # as written in the dashboard
    panel_id: int | None = None
    panel_title: str | None = None
    label: str | None = None  # for label_values() variables: the label whose values it lists

    def promql(self, rate_interval: str = "1m", **variables: str) -> str:
        """The expression as Grafana would send it: built-in variables set, and each dashboard
        variable (``job``, ``instance``, ``vercel_team``) given or at its All value (``.+``)."""
        text = self.expr
        for name, value in (
            ("$__rate_interval", rate_interval),
            ("$__interval", rate_interval),
            ("$__range", "1h"),
        ):
            text = text.replace(name, value)
        for name in VARIABLES:
            text = text.replace(f"${name}", variables.pop(name, ".+"))
        for name, default in LABEL_NAME_VARIABLES.items():
            text = text.replace(f"${name}", variables.pop(name, default))
        # Text boxes (the drain's prices): the value the user typed, or the dashboard's default.
        for name, default in sorted(textbox_defaults().items(), key=lambda item: -len(item[0])):
            text = text.replace(f"${name}", variables.pop(name, default))
        if variables:
            raise TypeError(f"the dashboard has no variable(s) {sorted(variables)}")
        return text


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD_PATH.read_text()))


def textbox_defaults(dashboard: dict[str, Any] | None = None) -> dict[str, str]:
    """The text box variables (numbers a query multiplies by) and their default values."""
    dashboard = dashboard or load_dashboard()
    return {
        var["name"]: str(var["query"])
        for var in dashboard["templating"]["list"]
        if var["type"] == "textbox"
    }


def panel_queries(dashboard: dict[str, Any] | None = None) -> list[Query]:
    dashboard = dashboard or load_dashboard()
    out = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out.append(
                Query(
                    where=f"panel {panel['id']} {panel['title']!r} {target['refId']}",
                    expr=target["expr"],
                    panel_id=panel["id"],
                    panel_title=panel["title"],
                )
            )
    return out


def variable_queries(dashboard: dict[str, Any] | None = None) -> list[Query]:
    """label_values(selector, label) variables, as the selector whose label they list."""
    dashboard = dashboard or load_dashboard()
    out = []
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        match = _LABEL_VALUES.fullmatch(var["query"]["query"])
        if match is None:
            raise AssertionError(f"variable {var['name']}: not a label_values() query")
        out.append(Query(f"variable {var['name']}", match["selector"], label=match["label"]))
    return out
