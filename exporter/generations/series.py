"""The generation metrics' state: persisted series, their definitions, and how a delta applies.

Every counter and histogram of the generation pipeline is a row in the state store and an
immutable value in memory. A lookup's observations are deltas; the store commits the new
values and the ID's resolution in one transaction, and only then does the in-memory mirror
(what ``/metrics`` shows) move, so a crash can neither lose nor double-count an observation
and no counter ever goes down across a restart.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from exporter.metrics import name

LabelPairs = tuple[tuple[str, str], ...]


class Kind(Enum):
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    buckets: tuple[Decimal, ...] = ()

    @property
    def bounds(self) -> tuple[float, ...]:
        return tuple(float(b) for b in self.buckets)


def _buckets(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


_GEN = ("team", "model", "provider")

# USD per generation: from a cached one-liner on a small model to a long agentic call.
COST = MetricDef(
    name("generation_cost_usd"),
    Kind.HISTOGRAM,
    "Cost in USD of looked-up generations (total_cost, including surcharges; 0 for BYOK).",
    _GEN,
    _buckets(
        "0.00001",
        "0.000025",
        "0.00005",
        "0.0001",
        "0.00025",
        "0.0005",
        "0.001",
        "0.0025",
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.1",
        "0.25",
        "0.5",
        "1",
        "2.5",
        "5",
        "10",
    ),
)
TIME_TO_FIRST_TOKEN = MetricDef(
    name("generation_time_to_first_token_seconds"),
    Kind.HISTOGRAM,
    "Time to first token of looked-up generations (latency).",
    _GEN,
    _buckets(
        "0.1", "0.25", "0.5", "0.75", "1", "1.5", "2", "3", "5", "7.5", "10", "15", "30", "60"
    ),
)
DURATION = MetricDef(
    name("generation_duration_seconds"),
    Kind.HISTOGRAM,
    "Total generation time of looked-up generations (generation_time).",
    _GEN,
    _buckets(
        "0.25",
        "0.5",
        "1",
        "2",
        "3",
        "5",
        "7.5",
        "10",
        "15",
        "20",
        "30",
        "45",
        "60",
        "90",
        "120",
        "180",
        "300",
        "600",
    ),
)
TOKENS = MetricDef(
    name("generation_tokens"),
    Kind.HISTOGRAM,
    "Provider-native token counts per looked-up generation, by type.",
    (*_GEN, "type"),
    _buckets(
        "1",
        "10",
        "50",
        "100",
        "250",
        "500",
        "1000",
        "2500",
        "5000",
        "10000",
        "25000",
        "50000",
        "100000",
        "250000",
        "500000",
        "1000000",
        "2000000",
    ),
)
GENERATIONS = MetricDef(
    name("generations_total"),
    Kind.COUNTER,
    "Looked-up generations by finish reason, streaming and BYOK.",
    (*_GEN, "finish_reason", "streamed", "byok"),
)
BYOK_COST = MetricDef(
    name("generation_byok_cost_usd_total"),
    Kind.COUNTER,
    "Upstream inference cost in USD of BYOK generations, paid to the provider, not in total_cost.",
    _GEN,
)
WEB_SEARCH = MetricDef(
    name("generation_web_search_calls_total"),
    Kind.COUNTER,
    "Billable web search calls of looked-up generations.",
    _GEN,
)
SKIPPED = MetricDef(
    name("generation_observations_skipped_total"),
    Kind.COUNTER,
    "Observations skipped because the record lacked the field (missing) or it was unusable "
    "(invalid: wrong type or absurd value).",
    ("team", "field", "reason"),
)
RECEIVED = MetricDef(
    name("generation_ids_received_total"),
    Kind.COUNTER,
    "Generation IDs received, by source (http, follow) and result (accepted, duplicate, rejected).",
    ("team", "source", "result"),
)
LOOKUPS = MetricDef(
    name("generation_lookups_total"),
    Kind.COUNTER,
    "Generation lookups by outcome (found, pending, rate_limited, error, rejected, invalid).",
    ("team", "outcome"),
)
ABANDONED = MetricDef(
    name("generations_abandoned_total"),
    Kind.COUNTER,
    "Generation IDs given up on, by reason (not_found, max_age, rejected, invalid).",
    ("team", "reason"),
)
LOOKUP_DELAY = MetricDef(
    name("generation_lookup_delay_seconds"),
    Kind.HISTOGRAM,
    "Time from receiving a generation ID to recording its generation.",
    ("team",),
    _buckets("1", "2.5", "5", "10", "15", "30", "60", "120", "300", "600", "900", "1800"),
)

LOOKUP_OUTCOMES = ("found", "pending", "rate_limited", "error", "rejected", "invalid")
ABANDON_REASONS = ("not_found", "max_age", "rejected", "invalid")

METRICS: tuple[MetricDef, ...] = (
    COST,
    TIME_TO_FIRST_TOKEN,
    DURATION,
    TOKENS,
    GENERATIONS,
    BYOK_COST,
    WEB_SEARCH,
    SKIPPED,
    RECEIVED,
    LOOKUPS,
    ABANDONED,
    LOOKUP_DELAY,
)
BY_NAME = {m.name: m for m in METRICS}


@dataclass(frozen=True)
class SeriesKey:
    metric: str
    labels: LabelPairs

    def labels_json(self) -> str:
        return json.dumps(self.labels, separators=(",", ":"))

    @classmethod
    def parse(cls, metric: str, labels_json: str) -> SeriesKey:
        return cls(metric, tuple((str(k), str(v)) for k, v in json.loads(labels_json)))


@dataclass(frozen=True)
class SeriesValue:
    """A counter (``total``) or a histogram (``count``, ``total`` as sum, per-bucket counts)."""

    count: int = 0
    total: Decimal = Decimal(0)
    buckets: tuple[int, ...] = ()  # non-cumulative; one more than the bounds, for +Inf

    def observe(self, metric: MetricDef, value: Decimal) -> tuple[SeriesValue, int]:
        """The value after one observation, and the bucket it fell into."""
        counts = list(self.buckets) or [0] * (len(metric.buckets) + 1)
        index = bisect_left(metric.buckets, value)
        counts[index] += 1
        return SeriesValue(self.count + 1, self.total + value, tuple(counts)), index

    def add(self, amount: Decimal) -> SeriesValue:
        return SeriesValue(self.count + 1, self.total + amount, self.buckets)


@dataclass(frozen=True)
class Delta:
    """One change to one series: an observation (histogram) or an increment (counter)."""

    metric: MetricDef
    labels: LabelPairs
    value: Decimal
    exemplar_id: str | None = None

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.metric.name, self.labels)


def delta(
    metric: MetricDef, value: Decimal | int, exemplar_id: str | None = None, **labels: str
) -> Delta:
    """A Delta with its labels in the metric's declared order (so keys are canonical)."""
    pairs = tuple((label, labels[label]) for label in metric.labels)
    return Delta(metric, pairs, Decimal(value), exemplar_id)
