"""Generations: counted model calls by finish reason, streaming and BYOK, and their extras."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    PERCENT,
    REQUESTS_PER_SECOND,
    SHORT,
    USD,
    Row,
    Target,
    TimeSeries,
)
from grafana.dashboards.queries import rate, sel


def share(*matchers: str) -> str:
    """Share of generation requests matching ``matchers`` (0 when none does)."""
    part = rate(sel(metrics.GENERATION_REQUESTS, *matchers))
    whole = rate(sel(metrics.GENERATION_REQUESTS))
    return f"(sum({part}) or vector(0)) / sum({whole})"


ROW = Row(
    "Generations",
    (
        TimeSeries(
            title="Generations per second by finish reason",
            description="Generations counted per second by finish reason. A rise of length or "
            "content_filter usually means prompts or limits to fix; error means failed "
            "generations that may still cost.",
            targets=(
                Target(
                    f"sum by (finish_reason) ({rate(sel(metrics.GENERATION_REQUESTS))})",
                    "{{finish_reason}}",
                ),
            ),
            unit=REQUESTS_PER_SECOND,
            stack=True,
        ),
        TimeSeries(
            title="Streamed and BYOK shares",
            description="Share of generations that were streamed, and share that used BYOK "
            "credentials (billed by the provider, not from the credits).",
            targets=(
                Target(share('streamed="true"'), "streamed"),
                Target(share('byok="true"'), "BYOK"),
            ),
            unit=PERCENT,
            max_value=1,
        ),
        TimeSeries(
            title="BYOK upstream cost per second by model",
            description="What the providers charge directly for BYOK generations "
            "(upstream_inference_cost), per model. Not taken from the credits, so not in the "
            "spend panels.",
            targets=(
                Target(f"sum by (model) ({rate(sel(metrics.GENERATION_BYOK_COST))})", "{{model}}"),
            ),
            unit=USD,
            stack=True,
            width=8,
        ),
        TimeSeries(
            title="Market price and surcharges per second",
            description="What the generations' inference costs at the providers' market prices "
            "(market_cost, BYOK included), next to what the gateway adds for features "
            "(surcharge_cost: zero data retention, Custom Reporting writes). Surcharges are "
            "already in the spend panels; records without the fields add nothing.",
            targets=(
                Target(f"sum({rate(sel(metrics.GENERATION_MARKET_COST))})", "market price"),
                Target(f"sum({rate(sel(metrics.GENERATION_SURCHARGE_COST))})", "surcharges"),
            ),
            unit=USD,
            width=8,
        ),
        TimeSeries(
            title="Web search calls per second by model",
            description="Billable web-search calls made by generations, per model.",
            targets=(
                Target(
                    f"sum by (model) ({rate(sel(metrics.GENERATION_WEB_SEARCH_CALLS))})",
                    "{{model}}",
                ),
            ),
            unit=SHORT,
            axis_label="calls/s",
            stack=True,
            width=8,
        ),
    ),
)
