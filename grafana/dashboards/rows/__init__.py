"""The dashboard's rows, top to bottom: one module each."""

from __future__ import annotations

from grafana.dashboards.panels import Row
from grafana.dashboards.rows import (
    attribution,
    credits,
    gateway,
    generations,
    health,
    latency,
    prices,
    providers,
    spend,
    tokens,
)

ROWS: tuple[Row, ...] = (
    credits.ROW,
    spend.ROW,
    attribution.ROW,
    prices.ROW,
    latency.ROW,
    providers.ROW,
    tokens.ROW,
    generations.ROW,
    gateway.ROW,
    health.ROW,
)
