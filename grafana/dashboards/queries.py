"""Selectors restricted to the dashboard's variables, and the recorded series panels read.

Every selector carries ``job=~"$job"`` and ``instance=~"$instance"`` (Grafana's dashboard
linter asks for both) and, where the series has the label, ``vercel_team=~"$vercel_team"``.
Metric names come from the contract, ``exporter.metrics``, never from a string here.

PromQL conventions, for several exporter replicas and several teams (the contract's
``replicas`` of each family):
- values mirrored from the gateway (credits, reports, budgets, last-success times) are the
  same on every replica: ``max by (...)``;
- counters and histograms count each replica's own work: ``sum by (...)``;
- a family's ``fixed_for_sum`` labels are selected with ``=`` or kept in ``by`` before a sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter import metrics
from exporter.metrics import Family
from grafana.dashboards.panels import Target

TEAM_LABEL = "vercel_team"
VARIABLES = ("job", "instance", TEAM_LABEL)
# Level of the recording rules: per replica and team (the labels they keep besides job).
LEVEL = f"instance_{TEAM_LABEL}"
RATE_WINDOW = "[$__rate_interval]"


@dataclass(frozen=True)
class Recorded:
    """A series of a recording rule in grafana/rules/vercel-ai-gateway.rules.yaml.

    Alerts and panels read the same recorded burn rate, spend and runway, so they cannot
    disagree; tests check that each name here is recorded there.
    """

    metric: str
    operation: str

    @property
    def name(self) -> str:
        return f"{LEVEL}:{self.metric}:{self.operation}"


# Burn rate in USD per second (slope of the lifetime spend) over 1 h, 6 h and 1 day.
BURN_1H = Recorded(metrics.CREDITS_USED.name, "deriv1h")
BURN_1D = Recorded(metrics.CREDITS_USED.name, "deriv1d")
# Spend in USD over the last hour and day.
SPEND_1H = Recorded(metrics.CREDITS_USED.name, "delta1h")
SPEND_1D = Recorded(metrics.CREDITS_USED.name, "delta1d")
# Seconds until the balance is spent at the burn rate of the last 6 h.
RUNWAY = Recorded(f"{metrics.NAMESPACE}_credits_runway_seconds", "deriv6h")


@dataclass(frozen=True)
class Price:
    """A price queries multiply by, as a text box variable the user can correct on the
    dashboard (prices change, contracts differ): ``default`` until then."""

    name: str
    label: str
    default: str
    description: str

    def __post_init__(self) -> None:
        float(self.default)  # a number PromQL can multiply by

    @property
    def ref(self) -> str:
        """What a query writes: Grafana puts the variable's value in its place."""
        return f"${self.name}"


def sel(series: Family | Recorded, *matchers: str, suffix: str = "") -> str:
    """A selector of ``series`` (a histogram's ``_bucket``/``_sum``/``_count`` by ``suffix``)
    restricted to the dashboard's variables, plus ``matchers``."""
    if isinstance(series, Recorded):
        name, has_team = series.name, True
    else:
        name, has_team = series.name + suffix, TEAM_LABEL in series.labels
        if name not in series.series_names:
            raise ValueError(f"{series.name} has no series {name}")
    variables = VARIABLES if has_team else VARIABLES[:2]
    parts = [f'{label}=~"${label}"' for label in variables]
    return f"{name}{{{', '.join([*parts, *matchers])}}}"


def rate(selector: str) -> str:
    """Per-second rate over Grafana's ``$__rate_interval`` (never a fixed window)."""
    return f"rate({selector}{RATE_WINDOW})"


def quantiles(family: Family, by: str, legend: str) -> tuple[Target, ...]:
    """p50, p95 and p99 of a histogram by ``by``; exemplars on the p95 (one set per panel)."""
    return tuple(
        Target(
            f"histogram_quantile({q}, sum by ({by}, le) ({rate(sel(family, suffix='_bucket'))}))",
            f"{legend} p{percent}",
            exemplar=percent == 95,
        )
        for q, percent in (("0.5", 50), ("0.95", 95), ("0.99", 99))
    )
