"""Generation totals computed independently from the simulator's ground truth, and read back
from the exporter, in the same shape so a test can compare them exactly."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import httpx

from exporter import metrics
from tests.support.stack import ExporterProcess, SimulatorProcess

# token_type label value: the upstream record field it counts (written out here, not imported
# from the exporter, so a wrong mapping there fails the comparison).
TOKEN_TYPES = {
    "input": "native_tokens_prompt",
    "output": "native_tokens_completion",
    "reasoning": "native_tokens_reasoning",
    "cache_read": "native_tokens_cached",
    "cache_write": "native_tokens_cache_creation",
}
Totals = dict[tuple[str, ...], Decimal]

# The exporter's sample names, by the kind of total this module computes for them.
SAMPLES = {
    f"{metrics.GENERATION_COST.name}_count": "cost_count",
    f"{metrics.GENERATION_COST.name}_sum": "cost_sum",
    f"{metrics.GENERATION_TIME_TO_FIRST_TOKEN.name}_sum": "ttft_sum",
    f"{metrics.GENERATION_DURATION.name}_sum": "duration_sum",
    f"{metrics.GENERATION_TOKENS.name}_sum": "tokens_sum",
    f"{metrics.GENERATION_TOKENS.name}_count": "tokens_count",
    metrics.GENERATION_REQUESTS.name: "generations",
    metrics.GENERATION_BYOK_COST.name: "byok_cost",
    metrics.GENERATION_WEB_SEARCH_CALLS.name: "web_search",
    metrics.GENERATION_MARKET_COST.name: "market_cost",
    metrics.GENERATION_SURCHARGE_COST.name: "surcharge",
}


def _key(*parts: str) -> tuple[str, ...]:
    """A series key (a call, because a starred subscript needs Python 3.11)."""
    return parts


def expected_totals(generations: Iterable[dict[str, Any]], drained: bool = False) -> Totals:
    """Sums and counts per series, from truth records (money as exact strings); ``drained``:
    as counted from trace drain spans, which carry no web search count nor surcharges."""
    out: Totals = defaultdict(Decimal)
    for g in generations:
        mp = (g["model"], g["provider_name"])
        out[_key("cost_count", *mp)] += 1
        out[_key("cost_sum", *mp)] += Decimal(g["total_cost"])
        if g["streamed"]:  # unstreamed, latency is the whole generation time: not observed
            out[_key("ttft_sum", *mp)] += Decimal(g["latency"]) / 1000
        out[_key("duration_sum", *mp)] += Decimal(g["generation_time"]) / 1000
        for token_type, field in TOKEN_TYPES.items():
            out[_key("tokens_sum", *mp, token_type)] += Decimal(g[field])
            out[_key("tokens_count", *mp, token_type)] += 1
        flags = (g["finish_reason"], str(g["streamed"]).lower(), str(g["is_byok"]).lower())
        out[_key("generations", *mp, *flags)] += 1
        if g["is_byok"]:
            out[_key("byok_cost", *mp)] += Decimal(g["upstream_inference_cost"])
        if Decimal(g["market_cost"]):
            out[_key("market_cost", *mp)] += Decimal(g["market_cost"])
        if Decimal(g["surcharge"]) and not drained:  # a drain span has no surcharge attribute
            out[_key("surcharge", *mp)] += Decimal(g["surcharge"])
        if g["billable_web_search_calls"] and not drained:
            out[_key("web_search", *mp)] += g["billable_web_search_calls"]
    return dict(out)


def observed_totals(exp: ExporterProcess, team: str) -> Totals:
    """The same sums and counts, read from the exporter's /metrics."""
    out: Totals = {}
    for (sample, labels), value in exp.samples().items():
        kind = SAMPLES.get(sample)
        label = dict(labels)
        if kind is None or label.get("vercel_team") != team:
            continue
        key: tuple[str, ...] = (kind, label["model"], label["provider"])
        if kind.startswith("tokens"):
            key += (label["token_type"],)
        if kind == "generations":
            key += (label["finish_reason"], label["streamed"], label["byok"])
        out[key] = out.get(key, Decimal(0)) + Decimal(repr(value))  # summed over operations
    return out


def assert_totals_match(expected: Totals, observed: Totals, tolerance: str = "1e-9") -> None:
    assert set(observed) == set(expected), (
        f"series differ: missing {set(expected) - set(observed)}, "
        f"extra {set(observed) - set(expected)}"
    )
    for key, value in expected.items():
        assert abs(observed[key] - value) <= Decimal(tolerance), (key, observed[key], value)


def priced_catalog_args(sim: SimulatorProcess) -> list[str]:
    """Flags that have the exporter read every listed model's provider prices before its
    first lookup (it reads those of models in use otherwise), so that cache savings on a
    provider with its own prices are exact from the first generation on."""
    resp = httpx.get(f"{sim.url}/_sim/prices", timeout=10)
    resp.raise_for_status()
    models = resp.json()["models"]
    return [f"--catalog.models={name}" for name, model in models.items() if model["listed"]]


def expected_savings(generations: Iterable[dict[str, Any]]) -> Totals:
    """Cache savings per model and provider from the truth's own prices, and the generations
    whose savings the exporter must count as unknown (cached tokens, model not listed)."""
    out: Totals = defaultdict(Decimal)
    for g in generations:
        if g["cache_savings"] is not None:
            out[_key("savings", g["model"], g["provider_name"])] += Decimal(g["cache_savings"])
        elif g["native_tokens_cached"]:
            out[_key("unknown", g["model"], "unknown_model")] += 1
    return dict(out)


def observed_savings(exp: ExporterProcess, team: str) -> Totals:
    """The same, read from the exporter's /metrics."""
    kinds = {
        metrics.GENERATION_CACHE_SAVINGS.name: ("savings", "provider"),
        metrics.GENERATION_CACHE_SAVINGS_UNKNOWN.name: ("unknown", "reason"),
    }
    out: Totals = {}
    for (sample, labels), value in exp.samples().items():
        label = dict(labels)
        if sample in kinds and label["vercel_team"] == team:
            kind, last = kinds[sample]
            out[_key(kind, label["model"], label[last])] = Decimal(repr(value))
    return out
