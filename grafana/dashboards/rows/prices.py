"""Prices and savings: what prompt caching saved, what the tokens cost against their list
price, and the list prices and deprecation dates of the models in use (model catalog).

Catalog families are the same on every replica and for every team (max by); token prices are
per token upstream, shown per million tokens, the unit price pages use; a web search is priced
per call.
"""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    GREEN,
    ORANGE,
    SHORT,
    USD,
    Legend,
    Row,
    Table,
    Target,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import rate, sel

MILLION = "1e6"
SAVINGS = sel(metrics.GENERATION_CACHE_SAVINGS)
COST = sel(metrics.GENERATION_COST, suffix="_sum")
UNKNOWN = sel(metrics.GENERATION_CACHE_SAVINGS_UNKNOWN)


def list_price(token_type: str) -> str:
    """A token type's list price per million tokens, by model."""
    price = sel(metrics.MODEL_TOKEN_PRICE, f'token_type="{token_type}"')
    return f"max by (model) ({price}) * {MILLION}"


def tokens_per_second(token_type: str) -> str:
    tokens = sel(metrics.GENERATION_TOKENS, f'token_type="{token_type}"', suffix="_sum")
    return f"sum by (model) ({rate(tokens)})"


EFFECTIVE = (
    f"sum by (model) ({rate(COST)}) / ({tokens_per_second('input')} + "
    f"{tokens_per_second('output')}) * {MILLION}"
)
PER_MILLION = " (USD per million tokens)"

ROW = Row(
    "Prices and savings",
    (
        TimeSeries(
            title="Cache savings per day by model",
            description="USD the prompt cache saved over the trailing 24 hours, by model: "
            "cached input tokens times (input price - cache-read price), at the serving "
            "provider's price when the catalog names it, else the model's list price. Only "
            "generations the exporter counted; see docs/metrics.md for the caveats.",
            targets=(Target(f"sum by (model) (increase({SAVINGS}[1d]))", "{{model}}"),),
            unit=USD,
            thresholds=fixed(GREEN),
        ),
        TimeSeries(
            title="Effective price paid per million tokens",
            description="What the counted generations cost per million input and output "
            "tokens (cost histogram sum over token histogram sums), next to each model's list "
            "input and output price from the catalog. Below the input price: the prompt cache "
            "pays; above the output price: long outputs, reasoning or surcharges.",
            targets=(
                Target(EFFECTIVE, "{{model}} paid"),
                Target(list_price("input"), "{{model}} list input"),
                Target(list_price("output"), "{{model}} list output"),
            ),
            unit=USD,
            thresholds=fixed(BLUE),
        ),
        Table(
            title="Models in use: list prices and deprecations",
            description="List price per million tokens of each model in use (or listed in "
            "catalog.models) by token type, its price per web search call when it has one, "
            "and the date the gateway deprecates it, when it has one. "
            "VercelAIGatewayModelDeprecationSoon fires within 30 days of it.",
            targets=(
                *(
                    Target(list_price(t), instant=True, format="table")
                    for t in ("input", "output", "cache_read", "cache_write")
                ),
                Target(
                    f"max by (model) ({sel(metrics.MODEL_WEB_SEARCH_PRICE)})",
                    instant=True,
                    format="table",
                ),
                Target(
                    f"max by (model) ({sel(metrics.MODEL_DEPRECATION)}) * 1000",
                    instant=True,
                    format="table",
                ),
            ),
            unit=USD,
            columns=(
                ("model", "Model"),
                ("Value #A", "Input" + PER_MILLION),
                ("Value #B", "Output" + PER_MILLION),
                ("Value #C", "Cache read" + PER_MILLION),
                ("Value #D", "Cache write" + PER_MILLION),
                ("Value #E", "Web search (USD per call)"),
                ("Value #F", "Deprecated on"),
            ),
            units=(("Deprecated on", "dateTimeAsIso"),),
            sort="Input" + PER_MILLION,
            width=16,
        ),
        Table(
            title="Tiered prices",
            description="Price bands of tiered models per million tokens: requests whose "
            "prompt has from the lower bound (inclusive) to the upper bound (exclusive) tokens "
            "pay the band's price for every token of that type.",
            targets=(
                Target(
                    "max by (model, token_type, min_tokens, max_tokens) "
                    f"({sel(metrics.MODEL_TOKEN_PRICE_TIER)}) * {MILLION}",
                    instant=True,
                    format="table",
                ),
            ),
            unit=USD,
            columns=(
                ("model", "Model"),
                ("token_type", "Token type"),
                ("min_tokens", "From (prompt tokens)"),
                ("max_tokens", "Below"),
                ("Value", "Price" + PER_MILLION),
            ),
            sort="Price" + PER_MILLION,
            width=8,
        ),
        TimeSeries(
            title="Generations with unknown cache savings",
            description="Counted generations with cached tokens whose savings were not "
            "counted, per second, by model and reason: no_catalog (not read yet, or off), "
            "unknown_model (the catalog does not list it), no_price (no usable input or "
            "cache-read price). Savings are never guessed.",
            targets=(
                Target(
                    f"sum by (model, reason) ({rate(UNKNOWN)})",
                    "{{model}} {{reason}}",
                ),
            ),
            unit=SHORT,
            axis_label="generations/s",
            thresholds=fixed(ORANGE),
            legend=Legend(below=True),
            width=24,
        ),
    ),
)
