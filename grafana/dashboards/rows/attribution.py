"""Attribution: cost by each label the exporter was configured to attribute generations to
(a feature, a customer, an environment), one panel per label, repeated by Grafana.

The labels are whatever the exporter's ``attribution.labels`` says, so the dashboard cannot
name them: the ``attribution`` variable lists them from the info family the exporter
publishes, and the panel groups by the variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from exporter import metrics
from grafana.dashboards.panels import SHORT, USD, Json, Row, Target, TimeSeries
from grafana.dashboards.queries import rate, sel

VARIABLE = "attribution"


@dataclass(frozen=True, kw_only=True)
class Repeated(TimeSeries):
    """A time series panel Grafana repeats for each selected value of a variable."""

    repeat: str
    max_per_row: ClassVar[int] = 2

    def extra(self) -> Json:
        return {"repeat": self.repeat, "repeatDirection": "h", "maxPerRow": self.max_per_row}


def by_label(family: metrics.Family, suffix: str) -> str:
    """A generation family per second, summed by the attribution label the panel repeats for."""
    return f"sum by (${VARIABLE}) ({rate(sel(family, suffix=suffix))})"


ROW = Row(
    "Attribution",
    (
        Repeated(
            title=f"Cost by ${VARIABLE}",
            description="Spend per second of the generations counted, by an attribution label "
            "(the exporter's attribution.labels: a span attribute or a field sent with each ID), "
            "one panel per label. 'none': the application sent no value; 'other': values "
            "beyond the label's bound. Empty when no attribution label is configured.",
            targets=(Target(by_label(metrics.GENERATION_COST, "_sum"), f"{{{{${VARIABLE}}}}}"),),
            unit=USD,
            stack=True,
            repeat=VARIABLE,
        ),
        Repeated(
            title=f"Generations by ${VARIABLE}",
            description="Generations counted per second by an attribution label, one panel "
            "per label.",
            targets=(Target(by_label(metrics.GENERATION_COST, "_count"), f"{{{{${VARIABLE}}}}}"),),
            unit=SHORT,
            axis_label="generations/s",
            stack=True,
            repeat=VARIABLE,
        ),
    ),
)
