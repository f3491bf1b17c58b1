"""The generation series the scrape benchmark renders, as deltas both registries apply.

The exporter gets them through its own store (one committed transaction, then the mirror its
collector reads); the baseline feeds the very same deltas to plain prometheus_client
Counter and Histogram objects, so both expose the same series with the same values.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from exporter.gateway.models import Generation
from exporter.generations.collector import zero_series
from exporter.generations.idcodec import CROCKFORD, time_part
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import Transaction
from exporter.generations.series import PERSISTED, Delta, delta
from exporter.metrics import (
    GENERATION_IDS_RECEIVED,
    GENERATION_LOOKUP_DELAY,
    GENERATION_LOOKUPS,
    GENERATION_QUEUE_LENGTH,
    Type,
)

TEAMS = ("search", "support", "agents", "batch")
VENDORS = ("anthropic", "openai", "google", "meta", "mistral", "deepseek", "xai", "cohere")
PROVIDERS = ("bedrock", "vertex", "azure", "groq", "deepinfra", "novita", "cerebras", "fireworks")
FINISH = ("stop", "length", "tool_calls")


def generation_id(rng: random.Random) -> str:
    return "gen_" + "".join(rng.choice(CROCKFORD) for _ in range(26))


def models(count: int) -> list[tuple[str, str]]:
    """``count`` (model, provider) pairs over several vendors and providers."""
    pairs = []
    for index in range(count):
        vendor = VENDORS[index % len(VENDORS)]
        pairs.append((f"{vendor}/model-{index // len(VENDORS)}", PROVIDERS[index % len(PROVIDERS)]))
    return pairs


def _record(rng: random.Random, model: str, provider: str, finish: str) -> Generation:
    byok = rng.random() < 0.2
    cost = Decimal(rng.randint(1, 5_000_000)) / Decimal(100_000_000)
    return Generation(
        id=generation_id(rng),
        total_cost=Decimal(0) if byok else cost,
        upstream_inference_cost=cost if byok else Decimal(0),
        model=model,
        provider_name=provider,
        is_byok=byok,
        streamed=rng.random() < 0.7,
        finish_reason=finish,
        latency_ms=Decimal(rng.randint(100, 4000)),
        generation_time_ms=Decimal(rng.randint(500, 90_000)),
        native_tokens_prompt=rng.randint(10, 200_000),
        native_tokens_completion=rng.randint(1, 20_000),
        native_tokens_reasoning=rng.randint(0, 5_000),
        native_tokens_cached=rng.randint(0, 50_000),
        native_tokens_cache_creation=rng.randint(0, 2_000),
        billable_web_search_calls=rng.choice((0, 0, 1)),
    )


def deltas(
    pairs_per_team: int = 31,
    per_pair: int = 2,
    seed: int = 7,
    teams: tuple[str, ...] = TEAMS,
) -> list[Delta]:
    """Observations of ``per_pair`` generations for every team x (model, provider) pair.

    The defaults give a little over 20,000 series (samples) in the exposition.
    """
    rng = random.Random(seed)  # noqa: S311 - test data
    observer = Observer(LabelLimiter(10_000), LabelLimiter(10_000), LabelLimiter(100))
    out: list[Delta] = []
    for team in teams:
        for model, provider in models(pairs_per_team):
            for index in range(per_pair):
                gen = _record(rng, model, provider, FINISH[index % len(FINISH)])
                out += observer.deltas(team, gen)
                out.append(delta(GENERATION_LOOKUPS, 1, vercel_team=team, outcome="found"))
                out.append(
                    delta(
                        GENERATION_LOOKUP_DELAY,
                        Decimal(rng.randint(5, 60)),
                        gen.id,
                        vercel_team=team,
                    )
                )
        out.append(
            delta(
                GENERATION_IDS_RECEIVED,
                pairs_per_team * per_pair,
                vercel_team=team,
                intake="http",
                result="accepted",
            )
        )
    return out


class Observe:
    """A store operation that only commits metric deltas (what a batch of lookups adds)."""

    def __init__(self, items: list[Delta]) -> None:
        self.items = items

    def apply(self, tx: Transaction) -> None:
        tx.apply(self.items)


def native_registry(items: list[Delta], teams: tuple[str, ...] = TEAMS) -> CollectorRegistry:
    """A plain prometheus_client registry holding the same series as the exporter.

    Same process, platform and GC collectors and the same queue-length gauge as the exporter,
    so the expositions differ only in the exporter's handful of credits and API series.
    """
    from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    metrics: dict[str, Any] = {}
    for metric in PERSISTED:
        if metric.type is Type.COUNTER:
            metrics[metric.name] = Counter(
                metric.name.removesuffix("_total"),
                metric.full_help,
                metric.labels,
                registry=registry,
            )
        else:
            metrics[metric.name] = Histogram(
                metric.name,
                metric.full_help,
                metric.labels,
                buckets=metric.bounds,
                registry=registry,
            )
    for team in teams:  # the exporter starts these at 0
        for key in zero_series(team):
            metrics[key.metric].labels(*(value for _, value in key.labels))
    for item in items:
        child = metrics[item.metric.name].labels(*(value for _, value in item.labels))
        if item.metric.type is Type.COUNTER:
            child.inc(float(item.value))
        elif item.exemplar_id is not None:
            child.observe(float(item.value), {"generation_id": item.exemplar_id})
        else:
            child.observe(float(item.value))
    queue = Gauge(
        GENERATION_QUEUE_LENGTH.name,
        GENERATION_QUEUE_LENGTH.full_help,
        GENERATION_QUEUE_LENGTH.labels,
        registry=registry,
    )
    for team in teams:
        queue.labels(team).set(0)
    return registry


def fresh_ids(prefix: str, count: int, start: int = 0) -> Iterator[str]:
    """Unique generation IDs that intake takes: ``gen_``, the ULID time of now, ``prefix`` and
    a zero-padded counter."""
    made = time_part(time.time()) + prefix
    width = 26 - len(made)
    for number in range(start, start + count):
        yield f"gen_{made}{number:0{width}d}"
