"""The panel kinds of the dashboard as typed values, and the Grafana JSON each one becomes.

Each kind carries only what its panels vary (title, description, queries, unit, thresholds and
a few kind-specific choices); everything else is the house style, written once below. Grid
positions and ids are not a panel's business: the dashboard's layout assigns them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

Json = dict[str, Any]

DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}

# Units, all of them ones Grafana's dashboard linter knows. Counts per second of things that
# are not requests use SHORT with an axis label saying what they count.
USD = "currencyUSD"
SECONDS = "s"
PERCENT = "percentunit"
SHORT = "short"
REQUESTS_PER_SECOND = "reqps"
BYTES_PER_SECOND = "Bps"
BOOL = "bool"

GREEN, ORANGE, RED, BLUE, PURPLE = "green", "orange", "red", "blue", "purple"

_HIDE_NOTHING = {"legend": False, "tooltip": False, "viz": False}
_LAST_VALUE = {"calcs": ["lastNotNull"], "fields": "", "values": False}
_NO_LEGEND = {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False}


@dataclass(frozen=True)
class Thresholds:
    """Absolute colour steps: ``base`` below the first value, then each (colour, from value)."""

    base: str
    steps: tuple[tuple[str, float], ...] = ()

    def json(self) -> Json:
        return {
            "mode": "absolute",
            "steps": [{"color": self.base, "value": None}]
            + [{"color": color, "value": value} for color, value in self.steps],
        }


def fixed(color: str) -> Thresholds:
    """A single colour: for values where no level is good or bad."""
    return Thresholds(color)


@dataclass(frozen=True)
class Target:
    """One PromQL query; its refId is its position in the panel (A, B, ...)."""

    expr: str
    legend: str = "__auto"
    instant: bool = False
    exemplar: bool = False
    format: str | None = None  # "table" or "heatmap"; Grafana's default (time series) if None
    interval: str | None = None

    def json(self, index: int) -> Json:
        out: Json = {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": self.expr,
            "legendFormat": self.legend,
            "range": not self.instant,
            "refId": chr(ord("A") + index),
        }
        if self.exemplar:
            out["exemplar"] = True
        if self.format is not None:
            out["format"] = self.format
        if self.interval is not None:
            out["interval"] = self.interval
        if self.instant:
            out["instant"] = True
        return out


@dataclass(frozen=True)
class Legend:
    """A time series legend: a table on the right (the default) or a list below the graph."""

    calcs: tuple[str, ...] = ("lastNotNull", "max")
    below: bool = False

    def json(self) -> Json:
        if self.below:
            return {
                "calcs": list(self.calcs),
                "displayMode": "list",
                "placement": "bottom",
                "showLegend": True,
            }
        return {
            "calcs": list(self.calcs),
            "displayMode": "table",
            "placement": "right",
            "showLegend": True,
            "sortBy": "Last *",
            "sortDesc": True,
        }


@dataclass(frozen=True, kw_only=True)
class Panel(ABC):
    """What every panel has; ``width`` and ``height`` are in grid units (24 columns)."""

    type: ClassVar[str]
    title: str
    description: str
    targets: tuple[Target, ...]
    width: int
    height: int

    def json(self) -> Json:
        """The panel as Grafana stores it, without ``gridPos`` and ``id``."""
        out: Json = {
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "fieldConfig": {"defaults": self.defaults(), "overrides": self.overrides()},
            "options": self.options(),
            "targets": [target.json(i) for i, target in enumerate(self.targets)],
        }
        out.update(self.extra())
        return out

    @abstractmethod
    def defaults(self) -> Json: ...

    @abstractmethod
    def options(self) -> Json: ...

    def overrides(self) -> list[Json]:
        return []

    def extra(self) -> Json:
        return {}


def _with_range(defaults: Json, min_value: float | None, max_value: float | None) -> Json:
    if min_value is not None:
        defaults["min"] = min_value
    if max_value is not None:
        defaults["max"] = max_value
    return defaults


@dataclass(frozen=True, kw_only=True)
class TimeSeries(Panel):
    type: ClassVar[str] = "timeseries"
    unit: str
    thresholds: Thresholds = field(default_factory=lambda: fixed(GREEN))
    axis_label: str = ""
    stack: bool = False
    max_value: float | None = None
    show_thresholds: bool = False
    legend: Legend = field(default_factory=Legend)
    width: int = 12
    height: int = 8

    def defaults(self) -> Json:
        custom: Json = {
            "axisBorderShow": False,
            "axisCenteredZero": False,
            "axisColorMode": "text",
            "axisLabel": self.axis_label,
            "axisPlacement": "auto",
            "barAlignment": 0,
            "drawStyle": "line",
            "fillOpacity": 25 if self.stack else 10,
            "gradientMode": "none",
            "hideFrom": _HIDE_NOTHING,
            "insertNulls": False,
            "lineInterpolation": "linear",
            "lineWidth": 1,
            "pointSize": 4,
            "scaleDistribution": {"type": "linear"},
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if self.stack else "none"},
            "thresholdsStyle": {"mode": "line+area" if self.show_thresholds else "off"},
        }
        defaults: Json = {
            "color": {"mode": "palette-classic"},
            "custom": custom,
            "mappings": [],
            "thresholds": self.thresholds.json(),
            "unit": self.unit,
        }
        return _with_range(defaults, 0, self.max_value)

    def options(self) -> Json:
        return {"legend": self.legend.json(), "tooltip": {"mode": "multi", "sort": "desc"}}


@dataclass(frozen=True, kw_only=True)
class Stat(Panel):
    type: ClassVar[str] = "stat"
    unit: str
    thresholds: Thresholds
    background: bool = False  # colour the whole panel, for values that are good or bad
    graph: bool = True
    no_value: str | None = None
    decimals: int | None = None
    # Values shown as words: (value, text, colour), e.g. a state gauge's 1 as what it means.
    mappings: tuple[tuple[int, str, str], ...] = ()
    width: int = 4
    height: int = 5

    def defaults(self) -> Json:
        options = {
            str(value): {"color": color, "index": index, "text": text}
            for index, (value, text, color) in enumerate(self.mappings)
        }
        defaults: Json = {
            "color": {"mode": "thresholds"},
            "mappings": [{"type": "value", "options": options}] if options else [],
            "thresholds": self.thresholds.json(),
            "unit": self.unit,
        }
        if self.no_value is not None:
            defaults["noValue"] = self.no_value
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        return defaults

    def options(self) -> Json:
        return {
            "colorMode": "background" if self.background else "value",
            "graphMode": "area" if self.graph else "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "percentChangeColorMode": "standard",
            "reduceOptions": _LAST_VALUE,
            "showPercentChange": False,
            "textMode": "value_and_name",
            "wideLayout": True,
        }


@dataclass(frozen=True, kw_only=True)
class BarGauge(Panel):
    type: ClassVar[str] = "bargauge"
    unit: str
    thresholds: Thresholds
    max_value: float | None = None
    width: int = 8
    height: int = 8

    def defaults(self) -> Json:
        defaults: Json = {
            "color": {"mode": "thresholds"},
            "mappings": [],
            "thresholds": self.thresholds.json(),
            "unit": self.unit,
        }
        return _with_range(defaults, 0, self.max_value)

    def options(self) -> Json:
        return {
            "displayMode": "gradient",
            "legend": _NO_LEGEND,
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "auto",
            "orientation": "horizontal",
            "reduceOptions": _LAST_VALUE,
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        }


@dataclass(frozen=True, kw_only=True)
class StateTimeline(Panel):
    """Up (1, green, "ok") or down (0, red, "failing") over time, one line per series."""

    type: ClassVar[str] = "state-timeline"
    width: int = 12
    height: int = 8

    def defaults(self) -> Json:
        return {
            "color": {"mode": "thresholds"},
            "custom": {"fillOpacity": 80, "hideFrom": _HIDE_NOTHING, "lineWidth": 0},
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
            "thresholds": Thresholds(RED, ((GREEN, 1),)).json(),
            "unit": BOOL,
        }

    def options(self) -> Json:
        return {
            "alignValue": "left",
            "legend": _NO_LEGEND,
            "mergeValues": True,
            "rowHeight": 0.8,
            "showValue": "never",
            "tooltip": {"mode": "multi", "sort": "none"},
        }


@dataclass(frozen=True, kw_only=True)
class Heatmap(Panel):
    """Histogram buckets over time (queries in ``heatmap`` format), in seconds."""

    type: ClassVar[str] = "heatmap"
    width: int = 24
    height: int = 9

    def defaults(self) -> Json:
        return {
            "custom": {"hideFrom": _HIDE_NOTHING, "scaleDistribution": {"type": "linear"}},
            "thresholds": fixed(GREEN).json(),
            "unit": SECONDS,
        }

    def options(self) -> Json:
        return {
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
        }


@dataclass(frozen=True, kw_only=True)
class Table(Panel):
    """Instant queries merged into one table: ``columns`` renames fields (``Value #A``, labels)
    in display order, ``units`` gives a column its own unit, ``sort`` the column sorted by."""

    type: ClassVar[str] = "table"
    unit: str
    columns: tuple[tuple[str, str], ...]
    sort: str
    units: tuple[tuple[str, str], ...] = ()
    width: int = 12
    height: int = 8

    def defaults(self) -> Json:
        return {
            "color": {"mode": "thresholds"},
            "custom": {
                "align": "auto",
                "cellOptions": {"type": "auto"},
                "filterable": False,
                "inspect": False,
            },
            "mappings": [],
            "thresholds": fixed(GREEN).json(),
            "unit": self.unit,
        }

    def overrides(self) -> list[Json]:
        return [
            {
                "matcher": {"id": "byName", "options": column},
                "properties": [{"id": "unit", "value": unit}],
            }
            for column, unit in self.units
        ]

    def options(self) -> Json:
        return {
            "cellHeight": "sm",
            "frameIndex": 0,
            "showHeader": True,
            "sortBy": [{"desc": True, "displayName": self.sort}],
        }

    def extra(self) -> Json:
        return {
            "transformations": [
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "indexByName": {},
                        "renameByName": dict(self.columns),
                    },
                },
            ]
        }


@dataclass(frozen=True)
class Row:
    """A titled row of panels, laid out left to right."""

    title: str
    panels: tuple[Panel, ...]
