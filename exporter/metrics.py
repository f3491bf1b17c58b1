"""THE metric contract: every family the exporter can publish, in one table.

Each family states its name, type, unit, labels, help, buckets and how several exporter
replicas aggregate it. Collectors build their families from these entries, the metrics
reference (docs/metrics.md) and the dashboard generator are written from them, and the tests
check the live exposition, the rules and the dashboard against them; no other module spells
a metric name.

Aggregation across replicas:

- ``max``: the value mirrors the gateway (credits, reports, budgets) or the configuration
  (thresholds), so every replica publishes the same number and ``sum`` would double it;
- ``sum``: each replica counts its own work (counters, histograms, its own queue);
- ``instance``: a per-replica fact (build info, task count) read per instance, not combined.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exporter import __version__

NAMESPACE = "vercel_ai_gateway"


class Type(Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class Replicas(Enum):
    """How a query combines one family across exporter replicas."""

    MAX = "max"
    SUM = "sum"
    INSTANCE = "instance"


class Area(Enum):
    """Where a family belongs: the sections of docs/metrics.md and of the dashboard."""

    CREDITS = "Credits"
    GENERATIONS = "Generations"
    PIPELINE = "Generation pipeline"
    REPORTS = "Custom Reporting"
    BUDGETS = "Budgets"
    THRESHOLDS = "Alert thresholds"
    EXPORTER = "The exporter itself"


@dataclass(frozen=True)
class Family:
    """One metric family as Prometheus sees it (counters carry their ``_total``)."""

    name: str
    type: Type
    unit: str
    labels: tuple[str, ...]
    help: str
    replicas: Replicas
    area: Area
    buckets: tuple[Decimal, ...] = ()
    # Labels that must be fixed (selected or grouped by) before summing the family: summing
    # over them adds overlapping or unlike quantities (a report's windows, cache reads that
    # are part of input tokens).
    fixed_for_sum: tuple[str, ...] = ()
    # Labels a series may carry besides ``labels``, one at a time (a report's group label).
    optional_labels: frozenset[str] = frozenset()
    # Why no panel or rule shows this family, when none does.
    unpanelled: str | None = None

    @property
    def full_help(self) -> str:
        if not self.fixed_for_sum:
            return self.help
        return f"{self.help} Sum only with {', '.join(self.fixed_for_sum)} fixed."

    @property
    def series_names(self) -> tuple[str, ...]:
        """The names its samples carry (what a query selects)."""
        if self.type is Type.HISTOGRAM:
            return tuple(f"{self.name}{s}" for s in ("_bucket", "_sum", "_count"))
        return (self.name,)

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.buckets)

    def gauge(self, detail: str = "", labels: Sequence[str] | None = None) -> GaugeMetricFamily:
        """A fresh family for a custom collector; ``detail`` adds run-time facts to the help."""
        self._expect(Type.GAUGE)
        return GaugeMetricFamily(self.name, self._help(detail), labels=labels or self.labels)

    def counter(self, detail: str = "") -> CounterMetricFamily:
        self._expect(Type.COUNTER)
        return CounterMetricFamily(self.name, self._help(detail), labels=self.labels)

    def histogram(self, detail: str = "") -> HistogramMetricFamily:
        self._expect(Type.HISTOGRAM)
        return HistogramMetricFamily(self.name, self._help(detail), labels=self.labels)

    def free_labels(self) -> Metric:
        """A gauge family whose series may add one of ``optional_labels``."""
        self._expect(Type.GAUGE)
        return Metric(self.name, self.full_help, self.type.value)

    def _help(self, detail: str) -> str:
        return f"{self.full_help} {detail}" if detail else self.full_help

    def _expect(self, kind: Type) -> None:
        if self.type is not kind:
            raise TypeError(f"{self.name} is a {self.type.value}, not a {kind.value}")


def _family(
    suffix: str,
    kind: Type,
    unit: str,
    labels: str,
    help_text: str,
    replicas: Replicas,
    area: Area,
    **extra: object,
) -> Family:
    return Family(
        f"{NAMESPACE}_{suffix}",
        kind,
        unit,
        tuple(labels.split()),
        help_text,
        replicas,
        area,
        **extra,  # type: ignore[arg-type]
    )


def _buckets(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


C, G, H = Type.COUNTER, Type.GAUGE, Type.HISTOGRAM
MAX, SUM, INSTANCE = Replicas.MAX, Replicas.SUM, Replicas.INSTANCE
GEN = "vercel_team model provider"
BUDGET = "vercel_team scope_type scope name refresh_period"
REPORT = "vercel_team report window"

# The label a report series carries, named after the report's group_by dimension.
REPORT_DIMENSIONS = frozenset(
    ["model", "provider", "user", "tag", "credential_type", "api_key_name", "zero_data_retention"]
)
# token_type values, shared by every family that carries the label (OpenTelemetry GenAI's
# input/output where they fit). cache_read and cache_write are part of input, reasoning of
# output, so token_type is never summed over.
TOKEN_TYPES = ("input", "output", "reasoning", "cache_read", "cache_write")

# --- Credits -------------------------------------------------------------------------------
CREDITS_BALANCE = _family(
    "credits_balance_usd", G, "usd", "vercel_team",
    "Remaining AI Gateway credit balance in USD (GET /v1/credits balance).",
    MAX, Area.CREDITS,
)  # fmt: skip
CREDITS_USED = _family(
    "credits_used_usd", G, "usd", "vercel_team",
    "Lifetime AI Gateway spend in USD (GET /v1/credits total_used); use deriv() or delta() "
    "for spend over time, since it is a gauge.",
    MAX, Area.CREDITS,
)  # fmt: skip

# --- Generations (looked up once, by the replica that received the ID) ----------------------
COST_BUCKETS = _buckets(
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
)  # fmt: skip
GENERATION_COST = _family(
    "generation_cost_usd", H, "usd", GEN,
    "Cost in USD of looked-up generations (total_cost, including surcharges).",
    SUM, Area.GENERATIONS, buckets=COST_BUCKETS,
)  # fmt: skip
GENERATION_TIME_TO_FIRST_TOKEN = _family(
    "generation_time_to_first_token_seconds", H, "seconds", GEN,
    "Time to first token of looked-up generations (latency).",
    SUM, Area.GENERATIONS,
    buckets=_buckets(
        "0.1", "0.25", "0.5", "0.75", "1", "1.5", "2", "3", "5", "7.5", "10", "15", "30", "60"
    ),
)  # fmt: skip
GENERATION_DURATION = _family(
    "generation_duration_seconds", H, "seconds", GEN,
    "Total generation time of looked-up generations (generation_time).",
    SUM, Area.GENERATIONS,
    buckets=_buckets(
        "0.25", "0.5", "1", "2", "3", "5", "7.5", "10", "15", "20", "30", "45", "60", "90",
        "120", "180", "300", "600",
    ),
)  # fmt: skip
GENERATION_TOKENS = _family(
    "generation_tokens", H, "tokens", GEN + " token_type",
    "Provider-native token counts per looked-up generation, by token_type (input, output, "
    "reasoning, cache_read, cache_write).",
    SUM, Area.GENERATIONS, fixed_for_sum=("token_type",),
    buckets=_buckets(
        "1", "10", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "25000",
        "50000", "100000", "250000", "500000", "1000000", "2000000",
    ),
)  # fmt: skip
GENERATION_REQUESTS = _family(
    "generation_requests_total", C, "", GEN + " finish_reason streamed byok",
    "Looked-up generations (one per model call) by finish reason, streaming and BYOK.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_BYOK_COST = _family(
    "generation_byok_cost_usd_total", C, "usd", GEN,
    "Upstream inference cost in USD of BYOK generations, paid to the provider, not in "
    "total_cost.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_WEB_SEARCH_CALLS = _family(
    "generation_web_search_calls_total", C, "", GEN,
    "Billable web search calls of looked-up generations.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_OBSERVATIONS_SKIPPED = _family(
    "generation_observations_skipped_total", C, "", "vercel_team field reason",
    "Observations skipped because the record lacked the field (missing) or it was unusable "
    "(invalid: wrong type or absurd value).",
    SUM, Area.PIPELINE,
)  # fmt: skip

GENERATION_OBSERVATIONS_FOLDED = _family(
    "generation_observations_folded_total", C, "", "vercel_team",
    "Looked-up generations observed under model, provider or finish_reason 'other' because "
    "a label's distinct values (generations.max_models) or the model and provider pairs "
    "(generations.max_series) reached their bound.",
    SUM, Area.PIPELINE,
)  # fmt: skip

# --- The lookup pipeline ----------------------------------------------------------------------
GENERATION_IDS_RECEIVED = _family(
    "generation_ids_received_total", C, "", "vercel_team intake result",
    "Generation IDs received, by intake path (http, follow) and result (accepted, duplicate, "
    "rejected).",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_LOOKUPS = _family(
    "generation_lookups_total", C, "", "vercel_team outcome",
    "Generation lookups by outcome (found, pending, rate_limited, error, rejected, invalid).",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_IDS_ABANDONED = _family(
    "generation_ids_abandoned_total", C, "", "vercel_team reason",
    "Generation IDs given up on, by reason (not_found, max_age, rejected, invalid).",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_LOOKUP_RETRIES_DEFERRED = _family(
    "generation_lookup_retries_deferred_total", C, "", "vercel_team",
    "Lookup retries put off because the team's retry budget (lookup.retry_budget) was spent: "
    "IDs that are not found at once, made-up ones above all, cannot make the exporter call the "
    "gateway faster than the budget.",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_QUEUE_LENGTH = _family(
    "generation_queue_length", G, "", "vercel_team",
    "Generation IDs waiting to be looked up.",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_LOOKUP_DELAY = _family(
    "generation_lookup_delay_seconds", H, "seconds", "vercel_team",
    "Time from receiving a generation ID to recording its generation.",
    SUM, Area.PIPELINE,
    buckets=_buckets("1", "2.5", "5", "10", "15", "30", "60", "120", "300", "600", "900", "1800"),
)  # fmt: skip

# --- Custom Reporting (optional) ------------------------------------------------------------
REPORT_COST = _family(
    "report_cost_usd", G, "usd", REPORT + " cost_type",
    "Spend in USD over the report's window (UTC days) from Custom Reporting, by cost_type "
    "(total: charged, including surcharges; market: at market price, BYOK included; "
    "surcharge; gateway). The group is a label named after the report's group_by (model, "
    "provider, user, tag, credential_type, api_key_name, zero_data_retention; a group_by day "
    "report has none and is the window total); groups beyond the report's top_n are summed "
    "into 'other'. Tag reports count a request once per tag it carries.",
    MAX, Area.REPORTS, fixed_for_sum=("report", "cost_type"), optional_labels=REPORT_DIMENSIONS,
)  # fmt: skip
REPORT_TOKENS = _family(
    "report_tokens", G, "tokens", REPORT + " token_type",
    "Tokens over the report's window from Custom Reporting, by token_type (input, output, "
    "cache_read, cache_write, reasoning) and group; tag reports count a request once per tag.",
    MAX, Area.REPORTS, fixed_for_sum=("report", "token_type"), optional_labels=REPORT_DIMENSIONS,
)  # fmt: skip
REPORT_REQUESTS = _family(
    "report_requests", G, "", REPORT,
    "Requests over the report's window from Custom Reporting, by group; tag reports count a "
    "request once per tag.",
    MAX, Area.REPORTS, fixed_for_sum=("report",), optional_labels=REPORT_DIMENSIONS,
)  # fmt: skip
REPORT_UP = _family(
    "report_up", G, "", "vercel_team report",
    "1 if the report's last query succeeded; 0 if it failed or Custom Reporting is disabled "
    "for the team (403: not available on its plan).",
    MAX, Area.REPORTS,
)  # fmt: skip
REPORT_LAST_SUCCESS = _family(
    "report_last_success_timestamp_seconds", G, "seconds", "vercel_team report",
    "Unix time of the report's last successful Custom Reporting query.",
    MAX, Area.REPORTS,
)  # fmt: skip
REPORT_QUERIES = _family(
    "report_queries_total", C, "", "vercel_team report code",
    "Custom Reporting queries the exporter made, by HTTP status code (or timeout, "
    "network_error, invalid_response); Vercel bills each query.",
    SUM, Area.REPORTS,
)  # fmt: skip
REPORT_QUERY_COST = _family(
    "report_query_cost_usd_total", C, "usd", "vercel_team",
    "Estimated USD the exporter's own Custom Reporting queries cost (5 USD per 1,000 answered "
    "queries).",
    SUM, Area.REPORTS,
)  # fmt: skip

# --- Budgets (optional) ---------------------------------------------------------------------
BUDGET_LIMIT = _family(
    "budget_limit_usd", G, "usd", BUDGET,
    "Limit in USD of an active AI Gateway budget (Vercel budgets API), per scope and refresh "
    "period.",
    MAX, Area.BUDGETS, fixed_for_sum=("scope_type", "refresh_period"),
)  # fmt: skip
BUDGET_SPEND = _family(
    "budget_spend_usd", G, "usd", BUDGET,
    "Spend in USD counted against an active AI Gateway budget in its current refresh period "
    "(currentSpend).",
    MAX, Area.BUDGETS, fixed_for_sum=("scope_type", "refresh_period"),
)  # fmt: skip
BUDGET_BYOK_SPEND = _family(
    "budget_byok_spend_usd", G, "usd", BUDGET,
    "BYOK spend in USD in an active AI Gateway budget's current refresh period "
    "(currentByokSpend; it counts against the limit only if the budget includes BYOK).",
    MAX, Area.BUDGETS, fixed_for_sum=("scope_type", "refresh_period"),
)  # fmt: skip

# --- Per-team alert thresholds (configuration, so the shipped rules serve every team) -------
ALERT_CREDITS_LOW = _family(
    "alert_credits_low_threshold_usd", G, "usd", "vercel_team",
    "Balance in USD below which VercelAIGatewayCreditsLow fires for the team.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip
ALERT_CREDITS_CRITICAL = _family(
    "alert_credits_critical_threshold_usd", G, "usd", "vercel_team",
    "Balance in USD below which VercelAIGatewayCreditsCritical fires for the team.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip
ALERT_CREDITS_RUNWAY = _family(
    "alert_credits_runway_threshold_seconds", G, "seconds", "vercel_team",
    "Horizon in seconds within which running out fires VercelAIGatewayCreditsRunningOut.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip
ALERT_SPEND_SPIKE_FLOOR = _family(
    "alert_spend_spike_floor_usd", G, "usd", "vercel_team",
    "Hourly spend in USD below which VercelAIGatewaySpendSpike never fires for the team.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip
ALERT_BUDGET_USED = _family(
    "alert_budget_used_threshold_ratio", G, "ratio", "vercel_team",
    "Share of a budget spent (0-1) above which VercelAIGatewayBudgetNearlyExhausted fires.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip

# --- The exporter itself ----------------------------------------------------------------------
SOURCE_UP = _family(
    "source_up", G, "", "vercel_team source",
    "1 if the last refresh of the source (credits, reports, budgets) for the team succeeded, "
    "else 0.",
    MAX, Area.EXPORTER,
)  # fmt: skip
SOURCE_LAST_SUCCESS = _family(
    "source_last_success_timestamp_seconds", G, "seconds", "vercel_team source",
    "Unix time of the source's last successful refresh for the team.",
    MAX, Area.EXPORTER,
)  # fmt: skip
API_REQUESTS = _family(
    "api_requests_total", C, "", "vercel_team api_endpoint code",
    "Requests the exporter made to the AI Gateway and Vercel APIs, by HTTP status code (or "
    "timeout, network_error, invalid_response when no usable answer arrived).",
    SUM, Area.EXPORTER,
)  # fmt: skip
API_REQUEST_DURATION = _family(
    "api_request_duration_seconds", H, "seconds", "api_endpoint",
    "Duration of requests to the AI Gateway and Vercel APIs.",
    SUM, Area.EXPORTER,
    buckets=_buckets("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30"),
)  # fmt: skip
BUILD_INFO = _family(
    "exporter_build_info", G, "", "version python_version",
    "Version of the exporter and of the Python running it; the value is always 1.",
    INSTANCE, Area.EXPORTER,
)  # fmt: skip
ASYNCIO_TASKS = _family(
    "exporter_asyncio_tasks", G, "", "",
    "Asyncio tasks alive in the exporter, sampled every few seconds; a steady rise means a "
    "leak.",
    INSTANCE, Area.EXPORTER,
    unpanelled="a leak detector for the exporter's developers; process_* metrics cover what an "
    "operator watches",
)  # fmt: skip

FAMILIES: tuple[Family, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Family)
)
BY_NAME: dict[str, Family] = {family.name: family for family in FAMILIES}
BY_SERIES_NAME: dict[str, Family] = {
    series: family for family in FAMILIES for series in family.series_names
}


@dataclass
class ApiMetrics:
    """Counts and times every request the exporter makes upstream."""

    registry: CollectorRegistry
    requests: Counter = field(init=False)
    duration: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            API_REQUESTS.name, API_REQUESTS.full_help, API_REQUESTS.labels, registry=self.registry
        )
        self.duration = Histogram(
            API_REQUEST_DURATION.name,
            API_REQUEST_DURATION.full_help,
            API_REQUEST_DURATION.labels,
            buckets=API_REQUEST_DURATION.bounds,
            registry=self.registry,
        )

    def observe(self, team: str, endpoint: str, code: str, seconds: float) -> None:
        self.requests.labels(team, endpoint, code).inc()
        self.duration.labels(endpoint).observe(seconds)


class BuildInfoCollector(Collector):
    """The build info family: always 1, labelled with the versions."""

    def collect(self) -> Iterable[Metric]:
        family = BUILD_INFO.gauge()
        family.add_metric([__version__, platform.python_version()], 1.0)
        return [family]
