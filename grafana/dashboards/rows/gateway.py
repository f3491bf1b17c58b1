"""Gateway requests: what only AI Gateway's trace drain shows (failed requests, provider
attempts, fallbacks, every operation), what the drain itself brings and costs, and how much of
the spend the generation metrics cover.

The alerts read per-team ratios recorded in grafana/rules/vercel-ai-gateway.rules.yaml. Those
keep no instance (a ratio is taken once the replicas are combined), so the panels compute the
same ratios from the raw series, which the dashboard's variables can filter;
tests/dashboard/test_recorded_ratios.py checks that panel and rule agree.
"""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    BYTES_PER_SECOND,
    GREEN,
    ORANGE,
    PERCENT,
    RED,
    REQUESTS_PER_SECOND,
    SHORT,
    USD,
    Legend,
    Row,
    Stat,
    Target,
    Thresholds,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import SPEND_1D, SPEND_1H, Price, rate, sel

TEAM = "vercel_team"
COST = sel(metrics.GENERATION_COST, suffix="_sum")
NO_DRAIN = " Empty without a trace drain: no other way sees it."
ZERO = " 0 while the drain delivers and none happened; empty without a trace drain."

# What Vercel bills a drain: check its pricing page (docs/generations.md#what-it-costs).
EVENT_PRICE = Price(
    "drain_usd_per_1000_trace_events",
    "Drain USD per 1,000 trace events",
    "0.05",
    "Vercel's price of 1,000 trace events delivered by a drain, for the estimated drain cost. "
    "The default is a third-party summary's figure: check it on Vercel's pricing page.",
)
GB_PRICE = Price(
    "drain_usd_per_gb",
    "Drain USD per GB",
    "0.50",
    "Vercel's price of a GB (10^9 bytes) delivered by a drain, for the estimated drain cost. "
    "The default is a third-party summary's figure: check it on Vercel's pricing page.",
)
PRICES = (EVENT_PRICE, GB_PRICE)


def per_second(family: metrics.Family, by: str, *matchers: str) -> str:
    return f"sum by ({by}) ({rate(sel(family, *matchers))})"


def requests(by: str) -> str:
    """Requests per second: generations plus failed requests, whichever of the two exist."""
    failed = per_second(metrics.REQUESTS_FAILED, by)
    generations = per_second(metrics.GENERATION_REQUESTS, by)
    return f"(({failed} + {generations}) or {generations} or {failed})"


def drained(expr: str, by: str) -> str:
    """``expr``, or 0 where the drain delivers and ``expr`` has no series (a team that never
    had a failure or a fallback); still nothing where no drain delivers (nobody knows)."""
    delivering = f"{per_second(metrics.DRAIN_TRACE_EVENTS, by)} > 0"
    return f"({expr} or ({requests(by)} * 0 and {delivering}))"


def failed_share(by: str) -> str:
    """What VercelAIGatewayRequestsFailing reads: failed requests over all requests."""
    failed = per_second(metrics.REQUESTS_FAILED, by)
    return f"{drained(failed, by)} / ({requests(by)} > 0)"


def provider_error_ratio(by: str) -> str:
    """What VercelAIGatewayProviderAttemptsFailing reads: calls that did not succeed over all
    calls (0, not nothing, for a provider that never failed)."""
    failed = per_second(metrics.PROVIDER_ATTEMPTS, by, 'outcome!="success"')
    attempts = per_second(metrics.PROVIDER_ATTEMPTS, by)
    return f"({failed} or {attempts} * 0) / ({attempts} > 0)"


def coverage(window: str) -> str:
    """What VercelAIGatewayCoverageLow reads (over 1h): cost counted per generation over the
    growth of the lifetime spend, recorded per replica and deduplicated."""
    spend = {"1h": SPEND_1H, "1d": SPEND_1D}[window]
    return f"sum by ({TEAM}) (increase({COST}[{window}])) / (max by ({TEAM}) ({sel(spend)}) > 0)"


def drain_cost() -> str:
    events = sel(metrics.DRAIN_TRACE_EVENTS)
    received = sel(metrics.DRAIN_RECEIVED_BYTES)
    return (
        f"sum by ({TEAM}) (increase({events}[1d])) / 1000 * {EVENT_PRICE.ref} + "
        f"sum by ({TEAM}) (increase({received}[1d])) / 1e9 * {GB_PRICE.ref}"
    )


ROW = Row(
    "Gateway requests (trace drain)",
    (
        TimeSeries(
            title="Spend coverage",
            description="Cost of the generations counted (from drain spans or lookups) over "
            "what the team's lifetime spend (GET /v1/credits) grew by, in the last hour and "
            "the last 24 hours: 1 means every dollar spent is in the generation metrics. Red "
            "under 0.9: VercelAIGatewayCoverageLow fires when the last hour stays there for "
            "2 h while the team spends at least 1 USD an hour. Below 1: a drain sampled below "
            "100 %, lost deliveries or pushes, apps or projects that send nothing; above 1 "
            "(orange): credits polled late, an ID counted by two replicas. Credits are polled "
            "every minute, so the hour wobbles where the 24 h does not. Empty while nothing "
            "was spent, and for a team that sends no generations.",
            targets=(
                Target(coverage("1h"), "{{vercel_team}} last hour"),
                Target(coverage("1d"), "{{vercel_team}} last 24 h"),
            ),
            unit=PERCENT,
            thresholds=Thresholds(RED, ((GREEN, 0.9), (ORANGE, 1.1))),
            show_thresholds=True,
            width=16,
        ),
        Stat(
            title="Estimated drain cost in the last 24 h",
            description="What Vercel bills for the trace drain over the last 24 hours, "
            "estimated from what the exporters received: trace events (root spans of AI "
            "Gateway requests, whatever became of them) times the price per 1,000 trace "
            "events, plus bytes received times the price per GB (10^9 bytes). The prices are "
            "the dashboard's variables (defaults 0.05 USD per 1,000 trace events and 0.50 USD "
            "per GB, from a third-party summary): check them on Vercel's pricing page. Spans "
            "of your deployments that the same drain carries are billed but not counted here; "
            "refused deliveries are not counted (Vercel does not bill failed ones).",
            targets=(Target(drain_cost(), "{{vercel_team}}"),),
            unit=USD,
            thresholds=fixed(BLUE),
            decimals=2,
            width=8,
            height=8,
        ),
        TimeSeries(
            title="Failed requests per second",
            description="Requests AI Gateway answered with an error, per second, by model, "
            "provider and error_type: the span's error.type, else its HTTP status (429: rate "
            "limited; 402: out of credits or over a budget; 5xx: the gateway or the provider). "
            "From the root spans of the trace drain: a failed request has no generation "
            "record." + NO_DRAIN,
            targets=(
                Target(
                    per_second(metrics.REQUESTS_FAILED, "model, provider, error_type"),
                    "{{model}} · {{provider}} {{error_type}}",
                ),
            ),
            unit=REQUESTS_PER_SECOND,
            thresholds=fixed(RED),
            stack=True,
        ),
        TimeSeries(
            title="Failed share of requests",
            description="Failed requests over all requests (failed ones plus generations), "
            "per team. VercelAIGatewayRequestsFailing fires above 5 % over 30 minutes (the "
            "orange line) with at least 5 failed requests. Generations that reach the "
            "exporter another way than the drain count in the whole too, so an app out of "
            "the drain's reach lowers the share." + ZERO,
            targets=(Target(failed_share(TEAM), "{{vercel_team}}"),),
            unit=PERCENT,
            thresholds=Thresholds(GREEN, ((ORANGE, 0.05),)),
            show_thresholds=True,
            max_value=1,
        ),
        TimeSeries(
            title="Provider attempts by outcome",
            description="Calls AI Gateway made to providers on the requests' behalf, per "
            "second, by provider and outcome: success; timeout (the provider timeout the "
            "gateway was configured with passed); else the attempt's error type or HTTP "
            "status. A request that failed over has one attempt per provider tried." + NO_DRAIN,
            targets=(
                Target(
                    per_second(metrics.PROVIDER_ATTEMPTS, "provider, outcome"),
                    "{{provider}} {{outcome}}",
                ),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
        ),
        TimeSeries(
            title="Provider error ratio",
            description="Share of the calls to each provider that did not succeed (timeouts "
            "and errors). VercelAIGatewayProviderAttemptsFailing fires above 10 % over 30 "
            "minutes (the orange line), per team and provider, with at least 5 failed calls. "
            "The gateway fails over where it can, so the requests may still have succeeded, "
            "later: compare with the failed share and the fallbacks." + NO_DRAIN,
            targets=(Target(provider_error_ratio("provider"), "{{provider}}"),),
            unit=PERCENT,
            thresholds=Thresholds(GREEN, ((ORANGE, 0.1),)),
            show_thresholds=True,
            max_value=1,
        ),
        TimeSeries(
            title="Fallbacks per request",
            description="Fallbacks to the next model of a request's fallback list, per request "
            "(generations plus failed requests), per team: requests whose model failed and "
            "that went on to another one (a request may fall back more than once)." + ZERO,
            targets=(
                Target(
                    f"{drained(per_second(metrics.MODEL_FALLBACKS, TEAM), TEAM)} / "
                    f"({requests(TEAM)} > 0)",
                    "{{vercel_team}}",
                ),
            ),
            unit=PERCENT,
            thresholds=fixed(BLUE),
            legend=Legend(below=True),
            width=8,
        ),
        TimeSeries(
            title="Requests per second by operation",
            description="Generations and failed requests per second by operation: chat, "
            "embeddings, generate_content (image, video), retrieval (reranking); unknown when "
            "neither a drain span nor the model catalog says.",
            targets=(
                Target(per_second(metrics.GENERATION_REQUESTS, "operation"), "{{operation}}"),
                Target(per_second(metrics.REQUESTS_FAILED, "operation"), "{{operation}} failed"),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
            legend=Legend(below=True),
            width=8,
        ),
        TimeSeries(
            title="Spend per second by operation",
            description="USD per second of the generations counted, by operation (chat, "
            "embeddings, generate_content, retrieval, unknown), from the generation cost "
            "histogram.",
            targets=(Target(f"sum by (operation) ({rate(COST)})", "{{operation}}"),),
            unit=USD,
            stack=True,
            legend=Legend(below=True),
            width=8,
        ),
        TimeSeries(
            title="Drain deliveries",
            description="Trace drain deliveries taken on POST /v1/traces per second: accepted "
            "(verified, counted), replayed (the same body again, counted nothing: Vercel "
            "sent again one whose answer it missed). Refused ones are under refused intake "
            "requests.",
            targets=(Target(per_second(metrics.DRAIN_DELIVERIES, "result"), "{{result}}"),),
            unit=REQUESTS_PER_SECOND,
            stack=True,
            legend=Legend(below=True),
            width=6,
        ),
        TimeSeries(
            title="Trace events by result",
            description="Root spans of AI Gateway requests in verified deliveries per second, "
            "what Vercel bills a drain by, by what became of them: observed (counted from the "
            "span), failed (a failed request), looked_up (its cost was missing), duplicate "
            "(counted before), no_id (not counted).",
            targets=(Target(per_second(metrics.DRAIN_TRACE_EVENTS, "result"), "{{result}}"),),
            unit=SHORT,
            axis_label="events/s",
            stack=True,
            legend=Legend(below=True),
            width=6,
        ),
        TimeSeries(
            title="Drain bytes received",
            description="Bytes per second of verified drain deliveries as received "
            "(compressed, when they were), per team: what Vercel bills a drain per GB of.",
            targets=(Target(per_second(metrics.DRAIN_RECEIVED_BYTES, TEAM), "{{vercel_team}}"),),
            unit=BYTES_PER_SECOND,
            legend=Legend(below=True),
            width=6,
        ),
        TimeSeries(
            title="Refused intake requests",
            description="Requests refused on POST /v1/traces and POST /generations per second, "
            "by path and reason: signature_mismatch, signature_malformed (a drain delivery no "
            "configured secret signed: check the drain secret), unauthorized, bad_request, "
            "too_large, unsupported, busy (queue full or too many at once: senders retry). "
            "Nothing of a refused request is counted; the landing page shows the last message.",
            targets=(
                Target(
                    per_second(metrics.INTAKE_REQUESTS_REFUSED, "path, reason"),
                    "{{path}} {{reason}}",
                ),
            ),
            unit=REQUESTS_PER_SECOND,
            thresholds=fixed(ORANGE),
            stack=True,
            legend=Legend(below=True),
            width=6,
        ),
    ),
)
