"""Generation totals computed independently from the simulator's ground truth, and read back
from the exporter, in the same shape so a test can compare them exactly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from tests.support.stack import ExporterProcess

TOKEN_TYPES = {
    "prompt": "native_tokens_prompt",
    "completion": "native_tokens_completion",
    "reasoning": "native_tokens_reasoning",
    "cached_read": "native_tokens_cached",
    "cache_write": "native_tokens_cache_creation",
}
Totals = dict[tuple[str, ...], Decimal]


def _key(*parts: str) -> tuple[str, ...]:
    """A series key (a call, because a starred subscript needs Python 3.11)."""
    return parts


def expected_totals(generations: Iterable[dict[str, Any]]) -> Totals:
    """Sums and counts per series, from truth records (money as exact strings)."""
    out: Totals = defaultdict(Decimal)
    for g in generations:
        mp = (g["model"], g["provider_name"])
        out[_key("cost_count", *mp)] += 1
        out[_key("cost_sum", *mp)] += Decimal(g["total_cost"])
        out[_key("ttft_sum", *mp)] += Decimal(g["latency"]) / 1000
        out[_key("duration_sum", *mp)] += Decimal(g["generation_time"]) / 1000
        for token_type, field in TOKEN_TYPES.items():
            out[_key("tokens_sum", *mp, token_type)] += Decimal(g[field])
            out[_key("tokens_count", *mp, token_type)] += 1
        flags = (g["finish_reason"], str(g["streamed"]).lower(), str(g["is_byok"]).lower())
        out[_key("generations", *mp, *flags)] += 1
        if g["is_byok"]:
            out[_key("byok_cost", *mp)] += Decimal(g["upstream_inference_cost"])
        if g["billable_web_search_calls"]:
            out[_key("web_search", *mp)] += g["billable_web_search_calls"]
    return dict(out)


def observed_totals(exp: ExporterProcess, team: str) -> Totals:
    """The same sums and counts, read from the exporter's /metrics."""
    names = {
        "vercel_ai_gateway_generation_cost_usd_count": "cost_count",
        "vercel_ai_gateway_generation_cost_usd_sum": "cost_sum",
        "vercel_ai_gateway_generation_time_to_first_token_seconds_sum": "ttft_sum",
        "vercel_ai_gateway_generation_duration_seconds_sum": "duration_sum",
        "vercel_ai_gateway_generation_tokens_sum": "tokens_sum",
        "vercel_ai_gateway_generation_tokens_count": "tokens_count",
        "vercel_ai_gateway_generations_total": "generations",
        "vercel_ai_gateway_generation_byok_cost_usd_total": "byok_cost",
        "vercel_ai_gateway_generation_web_search_calls_total": "web_search",
    }
    out: Totals = {}
    for (sample, labels), value in exp.samples().items():
        kind = names.get(sample)
        label = dict(labels)
        if kind is None or label.get("team") != team:
            continue
        key: tuple[str, ...] = (kind, label["model"], label["provider"])
        if kind.startswith("tokens"):
            key += (label["type"],)
        if kind == "generations":
            key += (label["finish_reason"], label["streamed"], label["byok"])
        out[key] = Decimal(repr(value))
    return out


def assert_totals_match(expected: Totals, observed: Totals, tolerance: str = "1e-9") -> None:
    assert set(observed) == set(expected), (
        f"series differ: missing {set(expected) - set(observed)}, "
        f"extra {set(observed) - set(expected)}"
    )
    for key, value in expected.items():
        assert abs(observed[key] - value) <= Decimal(tolerance), (key, observed[key], value)
