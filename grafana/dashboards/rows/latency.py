"""Latency: time to first token and total duration of counted generations, with exemplars."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    GREEN,
    ORANGE,
    RED,
    SECONDS,
    Heatmap,
    Row,
    Target,
    Thresholds,
    TimeSeries,
)
from grafana.dashboards.queries import RATE_WINDOW, quantiles, sel

EXEMPLARS = (
    " Exemplars (diamonds) mark single generations: hover one for its generation_id. They need "
    "Prometheus' --enable-feature=exemplar-storage; to make the ID a link, set the data "
    "source's exemplar link (exemplarTraceIdDestinations) with name generation_id."
)
BUCKETS = sel(metrics.GENERATION_DURATION, suffix="_bucket")

ROW = Row(
    "Latency",
    (
        TimeSeries(
            title="Time to first token by model",
            description="p50, p95 and p99 time to the first token per model (the gateway's "
            "latency field), from the time-to-first-token histogram. Streamed generations only: "
            "unstreamed, the first token comes with the whole answer (latency equals the "
            "generation time), so those calls show under total duration instead." + EXEMPLARS,
            targets=quantiles(metrics.GENERATION_TIME_TO_FIRST_TOKEN, "model", "{{model}}"),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 2), (RED, 5))),
        ),
        TimeSeries(
            title="Total duration by model",
            description="p50, p95 and p99 total generation time per model, from the generation "
            "duration histogram." + EXEMPLARS,
            targets=quantiles(metrics.GENERATION_DURATION, "model", "{{model}}"),
            unit=SECONDS,
            thresholds=Thresholds(GREEN, ((ORANGE, 30), (RED, 60))),
        ),
        Heatmap(
            title="Generation duration heatmap",
            description="Generations per duration bucket over time (all selected models), from "
            "the generation duration histogram." + EXEMPLARS,
            targets=(
                Target(
                    f"sum by (le) (increase({BUCKETS}{RATE_WINDOW}))",
                    "{{le}}",
                    exemplar=True,
                    format="heatmap",
                    interval="",
                ),
            ),
        ),
    ),
)
