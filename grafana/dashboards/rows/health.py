"""Exporter health: every source's refreshes, upstream calls, the generation lookup pipeline
and what the exporter's own Custom Reporting queries cost."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    GREEN,
    ORANGE,
    PERCENT,
    RED,
    REQUESTS_PER_SECOND,
    SECONDS,
    SHORT,
    USD,
    Row,
    Stat,
    StateTimeline,
    Target,
    Thresholds,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import rate, sel

MODEL_CALLS, WITHOUT_ID = metrics.GENERATION_MODEL_CALL_SPANS, 'result="without_id"'


def per_second(family: metrics.Family, by: str) -> str:
    return f"sum by ({by}) ({rate(sel(family))})"


def lookup_delay(quantile: str) -> str:
    buckets = sel(metrics.GENERATION_LOOKUP_DELAY, suffix="_bucket")
    return f"histogram_quantile({quantile}, sum by (le) ({rate(buckets)}))"


ROW = Row(
    "Exporter health",
    (
        StateTimeline(
            title="Sources up per team",
            description="Per team, source (credits, reports, budgets) and exporter replica: did "
            f"the last refresh succeed ({metrics.SOURCE_UP.name})? Below, per report: did the "
            "last Custom Reporting query succeed? Red for 15 minutes fires "
            "VercelAIGatewayUpstreamFailing.",
            targets=(
                Target(
                    f"max by (vercel_team, source, instance) ({sel(metrics.SOURCE_UP)})",
                    "{{vercel_team}} {{source}} @ {{instance}}",
                ),
                Target(
                    f"max by (vercel_team, report) ({sel(metrics.REPORT_UP)})",
                    "{{vercel_team}} report {{report}}",
                ),
            ),
            width=16,
        ),
        Stat(
            title="Exporter replicas",
            description="Exporter processes publishing metrics, by version (from "
            f"{metrics.BUILD_INFO.name}), and scrape targets of the job that are "
            "down. Down targets fire VercelAIGatewayExporterDown.",
            targets=(
                Target(f"count by (version) ({sel(metrics.BUILD_INFO)})", "version {{version}}"),
                Target(
                    'count(up{job=~"$job", instance=~"$instance"} == 0) or vector(0)',
                    "targets down",
                ),
            ),
            unit=SHORT,
            thresholds=fixed(BLUE),
            graph=False,
            width=8,
            height=8,
        ),
        TimeSeries(
            title="Age of the last success",
            description="Time since the last successful refresh per team and source (freshest "
            "replica), and per report. Orange after 10 minutes (credits stop being published), "
            "red after 15 (VercelAIGatewayDataStale for credits; reports and budgets alert "
            "after 2 h, as they are polled less often).",
            targets=(
                Target(
                    f"time() - max by (vercel_team, source) ({sel(metrics.SOURCE_LAST_SUCCESS)})",
                    "{{vercel_team}} {{source}}",
                ),
                Target(
                    f"time() - max by (vercel_team, report) ({sel(metrics.REPORT_LAST_SUCCESS)})",
                    "{{vercel_team}} report {{report}}",
                ),
            ),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 600), (RED, 900))),
            show_thresholds=True,
        ),
        TimeSeries(
            title="Upstream API calls by code",
            description="Requests from the exporters to the AI Gateway and Vercel APIs per "
            "second, by API endpoint and result: an HTTP status, or timeout / network_error. "
            "401/403: bad key; 402: a Vercel budget blocks the key; 429: rate limited; 5xx: "
            "gateway trouble; 404, 3xx or invalid_response on credits: the URL leads to no AI "
            "Gateway (/readyz says so).",
            targets=(
                Target(
                    per_second(metrics.API_REQUESTS, "api_endpoint, code"),
                    "{{api_endpoint}} {{code}}",
                ),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
        ),
        TimeSeries(
            title="Upstream API latency",
            description="p95 duration of requests to the AI Gateway and Vercel APIs by API "
            "endpoint, all teams.",
            targets=(
                Target(
                    "histogram_quantile(0.95, sum by (api_endpoint, le) "
                    f"({rate(sel(metrics.API_REQUEST_DURATION, suffix='_bucket'))}))",
                    "{{api_endpoint}} p95",
                ),
            ),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 2.5), (RED, 10))),
        ),
        TimeSeries(
            title="Generation lookup outcomes",
            description="Generation lookups per second by outcome: found; pending (not yet known "
            "upstream, retried later); rate_limited; error; rejected; invalid. Deferred: "
            "retries put off because the team's retry budget (lookup.retry_budget) was spent, "
            "which is what a burst of made-up IDs looks like.",
            targets=(
                Target(per_second(metrics.GENERATION_LOOKUPS, "outcome"), "{{outcome}}"),
                Target(f"sum({rate(sel(metrics.GENERATION_LOOKUP_RETRIES_DEFERRED))})", "deferred"),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
        ),
        TimeSeries(
            title="Generation IDs received",
            description="Generation IDs reaching the exporter per second, by intake (drain: "
            "root spans of verified trace drain deliveries; otlp: other spans on POST "
            "/v1/traces; http: POST /generations; follow: the log follower) and result "
            "(accepted, duplicate, rejected).",
            targets=(
                Target(
                    per_second(metrics.GENERATION_IDS_RECEIVED, "intake, result"),
                    "{{intake}} {{result}}",
                ),
            ),
            unit=SHORT,
            axis_label="IDs/s",
            stack=True,
            width=8,
        ),
        TimeSeries(
            title="Trace spans",
            description="Spans reaching POST /v1/traces (OTLP) per second: with_id (they named "
            "a generation ID, which then counts as received above), without_id (other spans; "
            "a Collector filter can keep them away), and refused (their team attribute named "
            "no configured team; reported back to the sender in partial_success).",
            targets=(
                Target(per_second(metrics.GENERATION_TRACE_SPANS, "result"), "{{result}}"),
                Target(
                    f"sum({rate(sel(metrics.GENERATION_TRACE_SPANS_REJECTED))})",
                    "refused",
                ),
            ),
            unit=SHORT,
            axis_label="spans/s",
            stack=True,
            width=8,
        ),
        TimeSeries(
            title="Model calls without a generation ID",
            description="Of the spans on POST /v1/traces that record a model call through the "
            "gateway (the AI SDK's doGenerate/doStream, semantic-convention chat spans), the "
            "share that carried no generation ID, by team. Those generations are billed but "
            "never counted: AI SDK 7's OpenTelemetry integration without providerMetadata: "
            "true, or a step whose stream failed part way. The exporter's log and landing page "
            "name the likely cause once most of a team's calls have none.",
            targets=(
                Target(
                    f"sum by (vercel_team) ({rate(sel(MODEL_CALLS, WITHOUT_ID))})"
                    f" / {per_second(MODEL_CALLS, 'vercel_team')}",
                    "{{vercel_team}}",
                ),
            ),
            unit=PERCENT,
            thresholds=Thresholds(GREEN, ((ORANGE, 0.1), (RED, 0.5))),
            width=8,
        ),
        TimeSeries(
            title="Queue length",
            description="Generation IDs waiting for a lookup, summed over the replicas (each has "
            "its own queue). A queue that keeps growing means lookups cannot keep up.",
            targets=(
                Target(
                    f"sum by (vercel_team) ({sel(metrics.GENERATION_QUEUE_LENGTH)})",
                    "{{vercel_team}}",
                ),
            ),
            unit=SHORT,
            thresholds=Thresholds(GREEN, ((ORANGE, 1000), (RED, 10000))),
            width=8,
        ),
        TimeSeries(
            title="Abandoned lookups",
            description="Generation IDs given up per second, by reason: not_found (never known "
            "upstream), max_age (too old), rejected (refused by the gateway), forbidden (one "
            "record refused while the key works: another team's), invalid "
            "(malformed). More than 10 % of IDs fires VercelAIGatewayGenerationLookupsFailing.",
            targets=(Target(per_second(metrics.GENERATION_IDS_ABANDONED, "reason"), "{{reason}}"),),
            unit=SHORT,
            axis_label="IDs/s",
            stack=True,
            width=8,
        ),
        TimeSeries(
            title="Lookup delay",
            description="p50 and p95 time from receiving a generation ID to resolving it (the "
            "gateway publishes generations a few seconds after they finish).",
            targets=(Target(lookup_delay("0.5"), "p50"), Target(lookup_delay("0.95"), "p95")),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 60), (RED, 300))),
            width=8,
        ),
        TimeSeries(
            title="Skipped and folded observations",
            description="Observations of counted generations skipped per second, by field and "
            "reason: missing (the gateway's record lacked the field) or invalid (wrong type or "
            "absurd value). The generation still counts, but the panel of that field "
            "under-counts it. Folded: generations counted under 'other' because a label or the "
            "model and provider pairs reached their bound (generations.max_models, max_series).",
            targets=(
                Target(
                    per_second(metrics.GENERATION_OBSERVATIONS_SKIPPED, "field, reason"),
                    "{{field}} {{reason}}",
                ),
                Target(f"sum({rate(sel(metrics.GENERATION_OBSERVATIONS_FOLDED))})", "folded"),
            ),
            unit=SHORT,
            axis_label="observations/s",
            stack=True,
            width=8,
        ),
        TimeSeries(
            title="Report queries by code",
            description="Custom Reporting queries per second by report and HTTP status.",
            targets=(
                Target(per_second(metrics.REPORT_QUERIES, "report, code"), "{{report}} {{code}}"),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
            width=8,
        ),
        Stat(
            title="Report query spend in the last 24 h",
            description="What the exporter's own Custom Reporting queries cost in the last 24 "
            "hours (each query is billed). Raise the report interval if this matters.",
            targets=(
                Target(
                    f"sum by (vercel_team) (increase({sel(metrics.REPORT_QUERY_COST)}[1d]))",
                    "{{vercel_team}}",
                ),
            ),
            unit=USD,
            thresholds=Thresholds(GREEN, ((ORANGE, 1), (RED, 10))),
            decimals=2,
            width=8,
            height=8,
        ),
    ),
)
