"""The exporter's metric contract as the dashboard and the alert rules rely on it.

One entry per metric family: its type, its labels (before Prometheus adds job/instance) and how
a query must aggregate it across exporter replicas:

- ``max``: the value is mirrored from the gateway, so every replica publishes the same number
  (credits, reports, budgets, configured thresholds, last-success times);
- ``sum``: each replica counts its own work (counters, histograms, its own queue);
- per-replica state (``vercel_ai_gateway_up``, build info) is kept per instance or counted.

tests/dashboard and tests/rules check every query against this table, so a misspelt metric or
label, or a ``sum`` over mirrored gauges that would double with two replicas, fails a test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # "gauge", "counter" or "histogram"
    labels: frozenset[str]
    # Aggregations a query may apply directly around this family; None = no aggregation.
    aggregations: frozenset[str | None]

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names that appear in a query (histograms expose _bucket, _sum and _count)."""
        if self.kind == "histogram":
            return tuple(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count"))
        return (self.name,)


def _family(name: str, kind: str, labels: str, *aggregations: str | None) -> Family:
    return Family(
        name=f"vercel_ai_gateway_{name}",
        kind=kind,
        labels=frozenset(labels.split()),
        aggregations=frozenset(aggregations),
    )


MIRRORED = "max"
LOCAL = "sum"
GEN = "team model provider"
REPORT = "team report window"

FAMILIES: tuple[Family, ...] = (
    # Credits, mirrored from GET /v1/credits.
    _family("credits_balance_usd", "gauge", "team", MIRRORED),
    _family("credits_used_usd", "gauge", "team", MIRRORED),
    # The exporter itself.
    _family("up", "gauge", "team", "max", None),
    _family("last_success_timestamp_seconds", "gauge", "team endpoint", MIRRORED),
    _family("api_requests_total", "counter", "team endpoint code", LOCAL),
    _family("api_request_duration_seconds", "histogram", "endpoint", LOCAL),
    # count by version on the dashboard; max / absent() (None) in ExporterDown.
    _family("exporter_build_info", "gauge", "version python_version", "count", "max", None),
    # Per-team alert thresholds (configuration, the same on every replica).
    _family("alert_credits_low_threshold_usd", "gauge", "team", MIRRORED),
    _family("alert_credits_critical_threshold_usd", "gauge", "team", MIRRORED),
    _family("alert_credits_runway_threshold_seconds", "gauge", "team", MIRRORED),
    _family("alert_spend_spike_floor_usd", "gauge", "team", MIRRORED),
    _family("alert_budget_used_threshold_ratio", "gauge", "team", MIRRORED),
    # Generations, observed once by the replica that looked them up.
    _family("generation_cost_usd", "histogram", GEN, LOCAL),
    _family("generation_time_to_first_token_seconds", "histogram", GEN, LOCAL),
    _family("generation_duration_seconds", "histogram", GEN, LOCAL),
    _family("generation_tokens", "histogram", GEN + " type", LOCAL),
    _family("generations_total", "counter", GEN + " finish_reason streamed byok", LOCAL),
    _family("generation_byok_cost_usd_total", "counter", GEN, LOCAL),
    _family("generation_web_search_calls_total", "counter", GEN, LOCAL),
    # The lookup pipeline.
    _family("generation_ids_received_total", "counter", "team source result", LOCAL),
    _family("generation_lookups_total", "counter", "team outcome", LOCAL),
    _family("generation_queue_length", "gauge", "team", LOCAL),
    _family("generation_lookup_delay_seconds", "histogram", "team", LOCAL),
    _family("generations_abandoned_total", "counter", "team reason", LOCAL),
    # Custom Reporting (optional), plus one label named after the group_by dimension.
    _family("report_cost_usd", "gauge", REPORT + " cost_type", MIRRORED),
    _family("report_tokens", "gauge", REPORT + " type", MIRRORED),
    _family("report_requests", "gauge", REPORT, MIRRORED),
    _family("report_last_success_timestamp_seconds", "gauge", "team report", MIRRORED),
    _family("report_up", "gauge", "team report", MIRRORED),
    _family("report_queries_total", "counter", "team report code", LOCAL),
    _family("report_query_cost_usd_total", "counter", "team", LOCAL),
    # Budgets (optional).
    _family("budget_limit_usd", "gauge", "team scope_type scope name refresh_period", MIRRORED),
    _family("budget_spend_usd", "gauge", "team scope_type scope name refresh_period", MIRRORED),
    _family(
        "budget_byok_spend_usd", "gauge", "team scope_type scope name refresh_period", MIRRORED
    ),
)

# The extra label a report series carries, named after the report's group_by dimension.
REPORT_DIMENSIONS = frozenset(
    ["model", "provider", "user", "tag", "credential_type", "api_key_name", "zero_data_retention"]
)
TARGET_LABELS = frozenset({"job", "instance"})

BY_SERIES_NAME: dict[str, Family] = {
    series: family for family in FAMILIES for series in family.series_names
}


def family_of(series_name: str) -> Family | None:
    return BY_SERIES_NAME.get(series_name)


def allowed_labels(family: Family) -> frozenset[str]:
    """Labels a selector on ``family`` may match on (``le`` for buckets, report dimensions)."""
    labels = family.labels | TARGET_LABELS
    if family.kind == "histogram":
        labels |= {"le"}
    if family.name.startswith("vercel_ai_gateway_report_") and "window" in family.labels:
        labels |= REPORT_DIMENSIONS
    return labels
