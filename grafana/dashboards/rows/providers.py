"""Providers: how the providers serving the most used models are doing, as the gateway
publishes it for all its customers (model catalog), next to what the exporter measured from
the team's own generations."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    GREEN,
    ORANGE,
    PERCENT,
    RED,
    SECONDS,
    SHORT,
    Row,
    Table,
    Target,
    Thresholds,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import rate, sel

PAIR = "model, provider"
LEGEND = "{{model}} · {{provider}}"


def published(family: metrics.Family, *matchers: str) -> str:
    return f"max by ({PAIR}) ({sel(family, *matchers)})"


MEASURED_P50 = (
    f"histogram_quantile(0.5, sum by ({PAIR}, le) "
    f"({rate(sel(metrics.GENERATION_TIME_TO_FIRST_TOKEN, suffix='_bucket'))}))"
)

ROW = Row(
    "Providers",
    (
        TimeSeries(
            title="Provider uptime over 15 minutes",
            description="Uptime of each provider serving one of the top models (catalog."
            "top_models, by the exporter's own traffic) over the last 15 minutes, as the "
            "gateway publishes it. Orange under 99 %, red under 95 %.",
            targets=(Target(published(metrics.MODEL_PROVIDER_UPTIME, 'window="15m"'), LEGEND),),
            unit=PERCENT,
            thresholds=Thresholds(RED, ((ORANGE, 0.95), (GREEN, 0.99))),
            max_value=1,
        ),
        TimeSeries(
            title="Time to first token: published and measured",
            description="Median time to first token per model and provider: as the gateway "
            "publishes it over the last hour for all its customers, and as the exporter "
            "measured it from the team's own counted generations. Your own slower than "
            "published: look at prompt size, region or streaming.",
            targets=(
                Target(
                    published(metrics.MODEL_PROVIDER_TIME_TO_FIRST_TOKEN, 'percentile="p50"'),
                    LEGEND + " published p50",
                ),
                Target(MEASURED_P50, LEGEND + " measured p50"),
            ),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 2), (RED, 5))),
        ),
        TimeSeries(
            title="Provider throughput",
            description="Median output tokens per second of each provider over the last hour, "
            "as the gateway publishes it.",
            targets=(
                Target(published(metrics.MODEL_PROVIDER_THROUGHPUT, 'percentile="p50"'), LEGEND),
            ),
            unit=SHORT,
            axis_label="tokens/s",
            thresholds=fixed(BLUE),
        ),
        Table(
            title="Providers of the top models",
            description="Per model and provider: the gateway's status code (0 is active), "
            "uptime over 15 minutes, an hour and a day, and time to first token p50 and p95 "
            "over the last hour. Withheld once older than three polls.",
            targets=tuple(
                Target(published(family, *matchers), instant=True, format="table")
                for family, matchers in (
                    (metrics.MODEL_PROVIDER_STATUS, ()),
                    (metrics.MODEL_PROVIDER_UPTIME, ('window="15m"',)),
                    (metrics.MODEL_PROVIDER_UPTIME, ('window="1h"',)),
                    (metrics.MODEL_PROVIDER_UPTIME, ('window="1d"',)),
                    (metrics.MODEL_PROVIDER_TIME_TO_FIRST_TOKEN, ('percentile="p50"',)),
                    (metrics.MODEL_PROVIDER_TIME_TO_FIRST_TOKEN, ('percentile="p95"',)),
                )
            ),
            unit=PERCENT,
            columns=(
                ("model", "Model"),
                ("provider", "Provider"),
                ("Value #A", "Status"),
                ("Value #B", "Uptime 15m"),
                ("Value #C", "Uptime 1h"),
                ("Value #D", "Uptime 1d"),
                ("Value #E", "TTFT p50"),
                ("Value #F", "TTFT p95"),
            ),
            units=(("Status", SHORT), ("TTFT p50", SECONDS), ("TTFT p95", SECONDS)),
            sort="Uptime 15m",
        ),
    ),
)
