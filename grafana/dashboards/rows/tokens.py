"""Tokens: per token type and per model, and how much of the input the prompt cache served.

token_type is never summed over: cache_read and cache_write are part of input, reasoning part
of output (the contract's fixed_for_sum), so each query keeps it or selects one value.
"""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    GREEN,
    ORANGE,
    PERCENT,
    SHORT,
    Row,
    Target,
    Thresholds,
    TimeSeries,
)
from grafana.dashboards.queries import rate, sel


def tokens(*token_types: str) -> str:
    """The token rate of one token type (``=``), of several (``=~``), or of each of them."""
    unknown = set(token_types) - set(metrics.TOKEN_TYPES)
    if unknown:
        raise ValueError(f"no token_type {sorted(unknown)} in {metrics.TOKEN_TYPES}")
    matchers: tuple[str, ...] = ()
    if len(token_types) == 1:
        matchers = (f'token_type="{token_types[0]}"',)
    elif token_types:
        matchers = (f'token_type=~"{"|".join(token_types)}"',)
    return rate(sel(metrics.GENERATION_TOKENS, *matchers, suffix="_sum"))


ROW = Row(
    "Tokens",
    (
        TimeSeries(
            title="Tokens per second by type",
            description="Tokens per second by token_type, from the generation token histograms. "
            "Not additive: cache_read and cache_write are part of the input tokens, reasoning "
            "part of the output tokens.",
            targets=(Target(f"sum by (token_type) ({tokens()})", "{{token_type}}"),),
            unit=SHORT,
            axis_label="tokens/s",
        ),
        TimeSeries(
            title="Tokens per second by model",
            description="Input and output tokens per second by model (the other token types are "
            "parts of these two).",
            targets=(
                Target(
                    f"sum by (model, token_type) ({tokens('input', 'output')})",
                    "{{model}} {{token_type}}",
                ),
            ),
            unit=SHORT,
            axis_label="tokens/s",
        ),
        TimeSeries(
            title="Cache-read share of input tokens",
            description="Share of the input tokens read from the provider's prompt cache, per "
            "model; cached tokens are billed at a discount, so a higher share means cheaper "
            "prompts.",
            targets=(
                Target(
                    f"sum by (model) ({tokens('cache_read')}) / sum by (model) ({tokens('input')})",
                    "{{model}}",
                ),
            ),
            unit=PERCENT,
            thresholds=Thresholds(ORANGE, ((GREEN, 0.2),)),
            max_value=1,
            width=24,
        ),
    ),
)
