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

import asyncio
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
    GATEWAY = "Gateway requests (trace drain)"
    PIPELINE = "Generation pipeline"
    REPORTS = "Custom Reporting"
    BUDGETS = "Budgets"
    CATALOG = "Model catalog"
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

    def counter(self, detail: str = "", extra: Sequence[str] = ()) -> CounterMetricFamily:
        """``extra``: labels configured at run time (attribution labels) after the table's."""
        self._expect(Type.COUNTER)
        return CounterMetricFamily(self.name, self._help(detail), labels=[*self.labels, *extra])

    def histogram(self, detail: str = "", extra: Sequence[str] = ()) -> HistogramMetricFamily:
        self._expect(Type.HISTOGRAM)
        return HistogramMetricFamily(self.name, self._help(detail), labels=[*self.labels, *extra])

    @property
    def attributed(self) -> bool:
        """Whether a generation's configured attribution labels (exporter/generations/
        attribution.py) follow the table's labels: the generation area's families."""
        return self.area is Area.GENERATIONS

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
GEN = "vercel_team model provider operation"
BUDGET = "vercel_team scope_type scope name refresh_period budget_source"
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

# gen_ai.operation.name values of AI Gateway's trace drain; a looked-up generation takes its
# model's catalog type (language: chat, embedding: embeddings, image and video:
# generate_content, reranking: retrieval), else unknown.
OPERATIONS = ("chat", "embeddings", "generate_content", "retrieval")

# --- Generations (observed once: from a verified drain span, else looked up) ----------------
COST_BUCKETS = _buckets(
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
    "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
)  # fmt: skip
GENERATION_COST = _family(
    "generation_cost_usd", H, "usd", GEN,
    "Cost in USD of generations (total_cost; vercel.ai_gateway.cost.total of a drain span): "
    "what the gateway charged, surcharges included; for BYOK the surcharges alone, since the "
    "provider bills the inference.",
    SUM, Area.GENERATIONS, buckets=COST_BUCKETS,
)  # fmt: skip
GENERATION_TIME_TO_FIRST_TOKEN = _family(
    "generation_time_to_first_token_seconds", H, "seconds", GEN,
    "Time to first token of streamed generations (latency; "
    "gen_ai.response.time_to_first_chunk of a drain span); non-streamed ones are left out, "
    "since their first token arrives with the whole answer.",
    SUM, Area.GENERATIONS,
    buckets=_buckets(
        "0.1", "0.25", "0.5", "0.75", "1", "1.5", "2", "3", "5", "7.5", "10", "15", "30", "60"
    ),
)  # fmt: skip
GENERATION_DURATION = _family(
    "generation_duration_seconds", H, "seconds", GEN,
    "Total generation time of generations (generation_time; a drain span's own duration, "
    "which also holds the gateway's routing).",
    SUM, Area.GENERATIONS,
    buckets=_buckets(
        "0.25", "0.5", "1", "2", "3", "5", "7.5", "10", "15", "20", "30", "45", "60", "90",
        "120", "180", "300", "600",
    ),
)  # fmt: skip
GENERATION_TOKENS = _family(
    "generation_tokens", H, "tokens", GEN + " token_type",
    "Provider-native token counts per generation, by token_type (input, output, reasoning, "
    "cache_read, cache_write).",
    SUM, Area.GENERATIONS, fixed_for_sum=("token_type",),
    buckets=_buckets(
        "1", "10", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "25000",
        "50000", "100000", "250000", "500000", "1000000", "2000000",
    ),
)  # fmt: skip
GENERATION_REQUESTS = _family(
    "generation_requests_total", C, "", GEN + " finish_reason streamed byok",
    "Generations (one per model call or embedding request) by finish reason, streaming and "
    "BYOK; operation says what kind of request (chat, embeddings, generate_content, "
    "retrieval; unknown when neither a drain span nor the catalog says).",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_BYOK_COST = _family(
    "generation_byok_cost_usd_total", C, "usd", GEN,
    "Upstream inference cost in USD of BYOK generations, paid to the provider, not in "
    "total_cost.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_MARKET_COST = _family(
    "generation_market_cost_usd_total", C, "usd", GEN,
    "The inference of generations at the provider's market price in USD (market_cost; "
    "vercel.ai_gateway.cost.market of a drain span), BYOK included: total_cost less the "
    "surcharges for system credentials. Records without the field add nothing.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_SURCHARGE_COST = _family(
    "generation_surcharge_cost_usd_total", C, "usd", GEN,
    "The part of total_cost in USD that the gateway adds for features (zero data retention, "
    "Custom Reporting writes), BYOK included: surcharge_cost of looked-up records (drain spans "
    "do not carry it). Already in generation_cost_usd: never add the two.",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_WEB_SEARCH_CALLS = _family(
    "generation_web_search_calls_total", C, "", GEN,
    "Billable web search calls of looked-up generations (drain spans do not carry them).",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_OBSERVATIONS_SKIPPED = _family(
    "generation_observations_skipped_total", C, "", "vercel_team field reason",
    "Observations skipped because the record or drain span lacked the field (missing) or it "
    "was unusable (invalid: wrong type or absurd value).",
    SUM, Area.PIPELINE,
)  # fmt: skip

GENERATION_OBSERVATIONS_FOLDED = _family(
    "generation_observations_folded_total", C, "", "vercel_team",
    "Generations observed under model, provider or finish_reason 'other' because "
    "a label's distinct values (generations.max_models) or the model and provider pairs "
    "(generations.max_series) reached their bound.",
    SUM, Area.PIPELINE,
)  # fmt: skip

GENERATION_CACHE_SAVINGS = _family(
    "generation_cache_savings_usd_total", C, "usd", GEN,
    "USD that generations saved by reading input from the prompt cache: cached "
    "tokens times (input price - cache-read price), at the serving provider's price when the "
    "catalog names it, else the model's list price (its tier for the prompt's size).",
    SUM, Area.GENERATIONS,
)  # fmt: skip
GENERATION_CACHE_SAVINGS_UNKNOWN = _family(
    "generation_cache_savings_unknown_total", C, "", "vercel_team model reason",
    "Generations with cached tokens whose savings were not counted, by reason "
    "(no_catalog: no catalog read yet or it is off; unknown_model: not in the catalog; "
    "no_price: no usable input or cache-read price).",
    SUM, Area.GENERATIONS,
)  # fmt: skip

ATTRIBUTION_INFO = _family(
    "attribution_info", G, "", "label source",
    "The attribution labels configured (attribution.labels): each label the generation "
    "families carry and where its values come from; the value is always 1. Dashboards list "
    "the labels from it.",
    MAX, Area.PIPELINE,
)  # fmt: skip

# --- The lookup pipeline ----------------------------------------------------------------------
GENERATION_IDS_RECEIVED = _family(
    "generation_ids_received_total", C, "", "vercel_team intake result",
    "Generation IDs received, by intake path (drain: root spans of verified trace drain "
    "deliveries, counted from the span; otlp: other spans on POST /v1/traces; http: POST "
    "/generations; follow: the log follower) and result (accepted; duplicate; rejected: not an "
    "ID; stale: made before the dedup retention, future: made after now, both refused unlooked "
    "up since they may be counted already or are not real).",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_TRACE_SPANS = _family(
    "generation_trace_spans_total", C, "", "vercel_team result",
    "Spans received on POST /v1/traces (OTLP), by the team they were mapped to and result: "
    "with_id (it named at least one generation ID) or without_id.",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_MODEL_CALL_SPANS = _family(
    "generation_model_call_spans_total", C, "", "vercel_team result",
    "Spans on POST /v1/traces (not AI Gateway's own) that record a model call through the "
    "gateway (the AI SDK's ai.*.doGenerate and ai.*.doStream, or gen_ai.operation.name chat, "
    "text_completion or generate_content), by whether they carried a generation ID (with_id, "
    "without_id). A call without one is billed but never counted: AI SDK 7's OpenTelemetry "
    "integration without providerMetadata true, or a step whose stream failed part way.",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_TRACE_SPANS_REJECTED = _family(
    "generation_trace_spans_rejected_total", C, "", "reason",
    "Spans refused on POST /v1/traces and reported back in partial_success, by reason "
    "(unknown_team: their team attribute names no configured team).",
    SUM, Area.PIPELINE,
)  # fmt: skip
# --- Gateway requests: what only AI Gateway's trace drain shows (verified deliveries) -------
REQUESTS_FAILED = _family(
    "requests_failed_total", C, "", "vercel_team model provider operation error_type",
    "Requests AI Gateway answered with an error, from the root spans of its trace drain, by "
    "error_type (the span's error.type, else the HTTP status code it answered). They have no "
    "generation record, so no other path counts them; each is counted once, by its generation "
    "ID (or with its delivery when it has none).",
    SUM, Area.GATEWAY,
)  # fmt: skip
PROVIDER_ATTEMPTS = _family(
    "provider_attempts_total", C, "", "vercel_team model provider outcome",
    "Calls AI Gateway made to a provider on a request's behalf, from the provider-attempt spans "
    "of its trace drain, by outcome (success; timeout: the provider timeout the gateway was "
    "configured with passed; else the attempt's error.type, or its HTTP status code). A "
    "request that failed over has one attempt per provider tried.",
    SUM, Area.GATEWAY,
)  # fmt: skip
MODEL_FALLBACKS = _family(
    "model_fallbacks_total", C, "", "vercel_team model",
    "Requests that fell back to this model after the models before it in their fallback list "
    "failed (model-attempt spans of the trace drain after the first).",
    SUM, Area.GATEWAY,
)  # fmt: skip
DRAIN_DELIVERIES = _family(
    "drain_deliveries_total", C, "", "vercel_team result",
    "Trace drain deliveries taken on POST /v1/traces whose signature verified (or that came "
    "through a channel trusted with --otlp.trust-span-values), by result (accepted; replayed: "
    "the same body again, counted nothing). Refused ones are in "
    "intake_requests_refused_total.",
    SUM, Area.GATEWAY,
)  # fmt: skip
DRAIN_TRACE_EVENTS = _family(
    "drain_trace_events_total", C, "", "vercel_team result",
    "Root spans of AI Gateway requests in verified drain deliveries: Vercel bills a drain per "
    "trace event delivered. By result: observed (counted from the span, no lookup), failed "
    "(counted in requests_failed_total), looked_up (cost missing or unusable: queued for a "
    "lookup), duplicate (counted before: a redelivery, or another path was first), no_id (no "
    "generation ID: not counted).",
    SUM, Area.GATEWAY,
)  # fmt: skip
DRAIN_RECEIVED_BYTES = _family(
    "drain_received_bytes_total", C, "bytes", "vercel_team",
    "Bytes of verified drain deliveries as received (compressed, when they were): what Vercel "
    "bills a drain per GB of.",
    SUM, Area.GATEWAY,
)  # fmt: skip
INTAKE_REQUESTS_REFUSED = _family(
    "intake_requests_refused_total", C, "", "path reason",
    "Requests refused on the intake paths (POST /generations, POST /v1/traces), by reason: "
    "signature_malformed, signature_mismatch (a drain delivery that no configured secret "
    "signed: 403), unauthorized (401), bad_request (400), too_large (413), unsupported (415), "
    "busy (429, 503: queue full, too many at once, state not writable). Nothing of a refused "
    "request is stored.",
    SUM, Area.PIPELINE,
)  # fmt: skip

GENERATION_LOOKUPS = _family(
    "generation_lookups_total", C, "", "vercel_team outcome",
    "Generation lookups by outcome (found, pending, rate_limited, error, rejected, invalid).",
    SUM, Area.PIPELINE,
)  # fmt: skip
GENERATION_IDS_ABANDONED = _family(
    "generation_ids_abandoned_total", C, "", "vercel_team reason",
    "Generation IDs given up on, by reason (not_found: a 404 after lookup.max_age; max_age: no "
    "answer about the ID but errors for the whole dedup retention; rejected; forbidden: refused "
    "for that record while the key works; invalid).",
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
    "Generation IDs waiting to be looked up; a team no longer configured is listed while IDs "
    "are stranded under it (each is taken over by the next configured team that sends it).",
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
    "Spend in USD over the report's window (UTC days, or the last complete UTC hour) from "
    "Custom Reporting, by cost_type (total: charged, surcharges included; market: at market "
    "price, BYOK included; surcharge: the add-ons' part of total; gateway: the total debited, "
    "the same money as total). Never sum across cost types. The group is a "
    "label named after the report's group_by (model, provider, user, tag, credential_type, "
    "api_key_name, zero_data_retention; a group_by day report has none and is the window "
    "total); groups beyond the report's top_n are summed into 'other'. Tag reports count a "
    "request once per tag it carries.",
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
    "1 if the report's last query succeeded; 0 if it failed or Custom Reporting answers 403 "
    "for the team (see report_plan_required). Kept per report: source_up of the reports "
    "source is one per team, 0 while any of its reports fails.",
    MAX, Area.REPORTS,
)  # fmt: skip
REPORT_LAST_SUCCESS = _family(
    "report_last_success_timestamp_seconds", G, "seconds", "vercel_team report",
    "Unix time of the report's last successful Custom Reporting query. Kept per report: "
    "source_last_success_timestamp_seconds of the reports source is the team's latest, so it "
    "cannot show one report going stale.",
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
    "Estimated USD the exporter's own Custom Reporting queries cost (5 USD per 1,000 queries "
    "the API answered: 200, usable or not, or 403, since the hourly probe of a plan without "
    "Custom Reporting may be billed too).",
    SUM, Area.REPORTS,
)  # fmt: skip
REPORT_PLAN_REQUIRED = _family(
    "report_plan_required", G, "", "vercel_team",
    "1 while Custom Reporting answers 403 for the team: its plan (Hobby, Pro trial) lacks it. "
    "The exporter then probes once an hour and resumes the team's reports when a probe "
    "succeeds; 0 otherwise.",
    MAX, Area.REPORTS,
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
    "(currentSpend; BYOK spend is apart, in budget_byok_spend_usd).",
    MAX, Area.BUDGETS, fixed_for_sum=("scope_type", "refresh_period"),
)  # fmt: skip
BUDGET_BYOK_SPEND = _family(
    "budget_byok_spend_usd", G, "usd", BUDGET,
    "BYOK spend in USD in an active AI Gateway budget's current refresh period "
    "(currentByokSpend; it counts against the limit only where budget_byok_included is 1).",
    MAX, Area.BUDGETS, fixed_for_sum=("scope_type", "refresh_period"),
)  # fmt: skip
BUDGET_BYOK_INCLUDED = _family(
    "budget_byok_included", G, "", BUDGET,
    "1 if the budget counts BYOK spend against its limit (includeByokInQuota), else 0; absent "
    "when the list does not say.",
    MAX, Area.BUDGETS,
)  # fmt: skip
BUDGET_ALERT_THRESHOLD = _family(
    "budget_alert_threshold_ratio", G, "ratio", BUDGET,
    "Lowest share of the budget (0-1) at which Vercel sends a spend alert (alertThresholds, "
    "percentages upstream); VercelAIGatewayBudgetNearlyExhausted fires from it. Absent when the "
    "budget sets none.",
    MAX, Area.BUDGETS,
)  # fmt: skip
BUDGET_ENTRIES_SKIPPED = _family(
    "budget_entries_skipped", G, "", "vercel_team reason",
    "Entries of the last budgets list left out, by reason (not_an_object, no_scope_type, "
    "no_scope, bad_limit, bad_spend: missing or not a number, bad_flag: active or archived not "
    "a boolean); the other budgets are still published.",
    MAX, Area.BUDGETS,
)  # fmt: skip

# --- Model catalog (GET /v1/models and the endpoints route: public, no key, polled once) -----
MODEL_TOKEN_PRICE = _family(
    "model_token_price_usd", G, "usd", "model token_type",
    "List price in USD of one token of a model in use or configured (catalog.models), by "
    "token_type (input, output, cache_read, cache_write), from GET /v1/models; for a tiered "
    "model, its flat price (or its first band's).",
    MAX, Area.CATALOG, fixed_for_sum=("token_type",),
)  # fmt: skip
MODEL_TOKEN_PRICE_TIER = _family(
    "model_token_price_tier_usd", G, "usd", "model token_type min_tokens max_tokens",
    "Tiered list price in USD of one token, for requests whose prompt has from min_tokens "
    "(inclusive) to max_tokens (exclusive; +Inf: no bound) tokens; only tiered models have it.",
    MAX, Area.CATALOG, fixed_for_sum=("token_type", "min_tokens", "max_tokens"),
)  # fmt: skip
MODEL_WEB_SEARCH_PRICE = _family(
    "model_web_search_price_usd", G, "usd", "model",
    "List price in USD of one web search call of a model in use or configured, from GET "
    "/v1/models pricing.web_search; absent for models without one. Times the increase of "
    "generation_web_search_calls_total, what the counted calls cost at list price.",
    MAX, Area.CATALOG,
)  # fmt: skip
MODEL_DEPRECATION = _family(
    "model_deprecation_timestamp_seconds", G, "seconds", "model",
    "Unix time at which a model in use or configured is (or was) deprecated (deprecated_at); "
    "absent for models with no deprecation date.",
    MAX, Area.CATALOG,
)  # fmt: skip
MODEL_PROVIDER_UPTIME = _family(
    "model_provider_uptime_ratio", G, "ratio", "model provider window",
    "Uptime (0-1; the gateway publishes a percentage) of the provider serving the model over "
    "the last 15m, 1h or 1d (window); for the top catalog.top_models models by the "
    "exporter's own traffic. Left out for a provider with no traffic in the last hour (no "
    "latency or throughput), where the gateway shows 100 as a placeholder.",
    MAX, Area.CATALOG, fixed_for_sum=("window",),
)  # fmt: skip
MODEL_PROVIDER_TIME_TO_FIRST_TOKEN = _family(
    "model_provider_time_to_first_token_seconds", G, "seconds", "model provider percentile",
    "Time to first token of the provider for the model over the last hour, as the gateway "
    "publishes it (percentile p50 or p95, across all its customers).",
    MAX, Area.CATALOG, fixed_for_sum=("percentile",),
)  # fmt: skip
MODEL_PROVIDER_THROUGHPUT = _family(
    "model_provider_throughput_tokens_per_second", G, "", "model provider percentile",
    "Output tokens per second of the provider for the model over the last hour, as the "
    "gateway publishes it (percentile p50 or p95).",
    MAX, Area.CATALOG, fixed_for_sum=("percentile",),
)  # fmt: skip
MODEL_PROVIDER_STATUS = _family(
    "model_provider_status", G, "", "model provider",
    "Status code the gateway publishes for the provider serving the model: 0 is active, any "
    "other value is not (the codes are undocumented).",
    MAX, Area.CATALOG,
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
    "Share of a budget spent (0-1) above which VercelAIGatewayBudgetNearlyExhausted fires, "
    "for budgets without alert thresholds of their own.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip
ALERT_MODEL_DEPRECATION = _family(
    "alert_model_deprecation_threshold_seconds", G, "seconds", "vercel_team",
    "Horizon in seconds within which the deprecation of a model the team used in the last day "
    "fires VercelAIGatewayModelDeprecationSoon.",
    MAX, Area.THRESHOLDS, fixed_for_sum=("vercel_team",),
)  # fmt: skip

# --- The exporter itself ----------------------------------------------------------------------
SOURCE_UP = _family(
    "source_up", G, "", "vercel_team source",
    "1 if the last refresh of the source (credits, reports, budgets, catalog, providers) for "
    "the team succeeded, else 0. The catalog and providers are polled once for every team "
    "and published under each.",
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
    "timeout, network_error, invalid_response when no usable answer arrived); the public "
    "model catalog is called for no team, so its requests have no vercel_team.",
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


TASK_SAMPLE_EVERY = 2.0  # seconds between two counts of the asyncio tasks


class TaskCounter(Collector):
    """The asyncio task count, sampled every few seconds (counting on a scrape would report
    the scrape's own tasks)."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count = len(asyncio.all_tasks())
            await asyncio.sleep(TASK_SAMPLE_EVERY)

    def collect(self) -> list[Metric]:
        family = ASYNCIO_TASKS.gauge()
        family.add_metric([], float(self.count))
        return [family]
