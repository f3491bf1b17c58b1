"""The dashboard's rows, top to bottom: one module each."""

from __future__ import annotations

from grafana.dashboards.panels import Row
from grafana.dashboards.rows import credits, generations, health, latency, spend, tokens

ROWS: tuple[Row, ...] = (
    credits.ROW,
    spend.ROW,
    latency.ROW,
    tokens.ROW,
    generations.ROW,
    health.ROW,
)
