"""Per-team alert thresholds published as gauges, so one shipped rule file serves every team.

Only configured thresholds are published; the rules fall back to their defaults for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config import TeamConfig
from exporter.metrics import (
    ALERT_BUDGET_USED,
    ALERT_CREDITS_CRITICAL,
    ALERT_CREDITS_LOW,
    ALERT_CREDITS_RUNWAY,
    ALERT_MODEL_DEPRECATION,
    ALERT_SPEND_SPIKE_FLOOR,
    Family,
)

# The config field behind each threshold family.
_THRESHOLDS: tuple[tuple[str, Family], ...] = (
    ("credits_low_usd", ALERT_CREDITS_LOW),
    ("credits_critical_usd", ALERT_CREDITS_CRITICAL),
    ("credits_runway", ALERT_CREDITS_RUNWAY),
    ("spend_spike_floor_usd", ALERT_SPEND_SPIKE_FLOOR),
    ("budget_used_ratio", ALERT_BUDGET_USED),
    ("model_deprecation", ALERT_MODEL_DEPRECATION),
)


class ThresholdsCollector(Collector):
    """The configured thresholds; not a polled source, so it has no health of its own."""

    def __init__(self, teams: Sequence[TeamConfig]) -> None:
        self._teams = teams

    def collect(self) -> Iterable[Metric]:
        for field, threshold in _THRESHOLDS:
            family = threshold.gauge()
            for team in self._teams:
                value = getattr(team.alerts, field)
                if value is not None:
                    family.add_metric([team.name], float(value))
            yield family
