"""Per-team alert thresholds published as gauges, so one shipped rule file serves every team.

Only configured thresholds are published; the rules fall back to their defaults for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.config import TeamConfig
from exporter.metrics import name

# (config field, metric suffix, help)
_THRESHOLDS = (
    (
        "credits_low_usd",
        "alert_credits_low_threshold_usd",
        "Balance in USD below which VercelAIGatewayCreditsLow fires for the team.",
    ),
    (
        "credits_critical_usd",
        "alert_credits_critical_threshold_usd",
        "Balance in USD below which VercelAIGatewayCreditsCritical fires for the team.",
    ),
    (
        "credits_runway",
        "alert_credits_runway_threshold_seconds",
        "Horizon in seconds within which running out fires VercelAIGatewayCreditsRunningOut.",
    ),
    (
        "spend_spike_floor_usd",
        "alert_spend_spike_floor_usd",
        "Hourly spend in USD below which VercelAIGatewaySpendSpike never fires for the team.",
    ),
    (
        "budget_used_ratio",
        "alert_budget_used_threshold_ratio",
        "Share of a budget spent (0-1) above which VercelAIGatewayBudgetNearlyExhausted fires.",
    ),
)


class ThresholdsCollector(Collector):
    def __init__(self, teams: Sequence[TeamConfig]) -> None:
        self._teams = teams

    def collect(self) -> Iterable[Metric]:
        for field, suffix, help_text in _THRESHOLDS:
            family = GaugeMetricFamily(name(suffix), help_text, labels=["team"])
            for team in self._teams:
                value = getattr(team.alerts, field)
                if value is not None:
                    family.add_metric([team.name], float(value))
            yield family
