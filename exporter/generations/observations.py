"""What one looked-up generation contributes to the metrics, as a list of deltas.

Upstream chooses the model, provider and finish-reason strings, so each is made safe
(exporter/labels.py) and each label admits a bounded number of distinct values; later
newcomers are counted under ``other``. A missing or unusable
field skips only the observations that need it, and the skip is counted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Hashable, Iterable
from decimal import Decimal
from typing import Protocol

from exporter.gateway.models import Generation
from exporter.generations.series import Delta, LabelPairs, delta
from exporter.labels import safe_label
from exporter.metrics import (
    GENERATION_BYOK_COST,
    GENERATION_CACHE_SAVINGS,
    GENERATION_CACHE_SAVINGS_UNKNOWN,
    GENERATION_COST,
    GENERATION_DURATION,
    GENERATION_MARKET_COST,
    GENERATION_OBSERVATIONS_FOLDED,
    GENERATION_OBSERVATIONS_SKIPPED,
    GENERATION_REQUESTS,
    GENERATION_SURCHARGE_COST,
    GENERATION_TIME_TO_FIRST_TOKEN,
    GENERATION_TOKENS,
    GENERATION_WEB_SEARCH_CALLS,
    OPERATIONS,
)

OTHER = "other"
ONE = Decimal(1)
# The labels every generation family starts with, in the table's order (a test checks that
# each family Observer._deltas builds from them does start with them).
GENERATION_LABELS = GENERATION_COST.labels
UNKNOWN = "unknown"
MILLISECONDS = Decimal(1000)

# (record attribute, ``token_type`` label) for the token histogram.
TOKEN_FIELDS = (
    ("native_tokens_prompt", "input"),
    ("native_tokens_completion", "output"),
    ("native_tokens_reasoning", "reasoning"),
    ("native_tokens_cached", "cache_read"),
    ("native_tokens_cache_creation", "cache_write"),
)
# Record attribute -> the upstream field name used in the ``field`` label.
_FIELD_NAMES = {
    "total_cost": "total_cost",
    "latency_ms": "latency",
    "generation_time_ms": "generation_time",
    "upstream_inference_cost": "upstream_inference_cost",
    "model": "model",
    "provider_name": "provider_name",
    "finish_reason": "finish_reason",
    "streamed": "streamed",
    "is_byok": "is_byok",
    "billable_web_search_calls": "billable_web_search_calls",
    **{attr: attr for attr, _ in TOKEN_FIELDS},
}
SKIPPABLE_FIELDS = tuple(_FIELD_NAMES.values())  # the field label values of skipped ones


class LabelLimiter:
    """Admits up to ``limit`` distinct keys; later newcomers are refused (folded into other)."""

    def __init__(self, limit: int, known: Iterable[Hashable] = ()) -> None:
        self.limit = limit
        self._known = set(known)

    def admits(self, key: Hashable) -> bool:
        if key in self._known:
            return True
        if len(self._known) < self.limit:
            self._known.add(key)
            return True
        return False

    def admit(self, value: str) -> str:
        """``value``, or ``other`` once the limit is reached."""
        return value if self.admits(value) else OTHER


class CachePricing(Protocol):
    """The model catalog's prices, as the catalog source last read them (sources/catalog.py)."""

    @property
    def ready(self) -> asyncio.Event:
        """Set once the catalog was read (or failed to be) for the first time."""
        ...

    def cache_savings(self, gen: Generation) -> Decimal | str:
        """USD the generation's cached tokens saved, or why that is unknown."""
        ...

    def operation(self, model: str) -> str | None:
        """The operation the model's catalog type serves (chat for a language model …), or
        None when the catalog does not list the model."""
        ...


class AttributionLabels(Protocol):
    """The configured attribution labels (exporter/generations/attribution.py)."""

    def pairs(self, stored: str) -> LabelPairs:
        """The bounded label pairs of the attribution values stored with an ID."""
        ...


class Observer:
    """Turns records into deltas, keeping label values and series bounded.

    Each label admits a bounded number of values, and the (team, model, provider) series a
    bounded number of combinations: 200 models and 200 providers could otherwise make 40,000
    of each family. A generation whose labels were folded into ``other`` is counted.

    Lookups call it on the event loop and a drain delivery's commit in the writer's thread,
    so the limiters are admitted under a lock.
    """

    def __init__(
        self,
        models: LabelLimiter,
        providers: LabelLimiter,
        finish_reasons: LabelLimiter,
        series: LabelLimiter | None = None,
        pricing: CachePricing | None = None,
        attribution: AttributionLabels | None = None,
    ) -> None:
        self.models = models
        self.providers = providers
        self.finish_reasons = finish_reasons
        self.series = series or LabelLimiter(models.limit * 2)
        self.pricing = pricing  # None: cache savings are not counted at all
        self.attribution = attribution  # None: no attribution labels configured
        self._lock = threading.Lock()

    def deltas(self, team: str, gen: Generation, attributes: str = "") -> list[Delta]:
        """The deltas of one record; the attribution labels of the values stored with its ID
        go on the generation families."""
        with self._lock:
            return self._attributed(team, gen, attributes)

    def place(self, team: str, model: str | None, provider: str | None) -> tuple[str, str, bool]:
        """The model and provider labels of a series of ``team``, bounded as the generation
        families' are, and whether they were folded into ``other``."""
        with self._lock:
            return self._place(team, model, provider)

    def operation(self, gen: Generation) -> str:
        """What kind of request: as a drain span says it, else by the catalog's type of the
        model, else unknown."""
        if gen.operation is not None:
            return operation_label(gen.operation)
        if self.pricing is not None and gen.model:
            return self.pricing.operation(gen.model) or UNKNOWN
        return UNKNOWN

    def _place(self, team: str, model: str | None, provider: str | None) -> tuple[str, str, bool]:
        model = self.models.admit(safe_label(model)) if model else UNKNOWN
        provider = self.providers.admit(safe_label(provider)) if provider else UNKNOWN
        folded = OTHER in (model, provider)
        if not self.series.admits((team, model, provider)):
            return OTHER, OTHER, True
        return model, provider, folded

    def _attributed(self, team: str, gen: Generation, attributes: str) -> list[Delta]:
        out = self._deltas(team, gen)
        if self.attribution is None:
            return out
        attribution = self.attribution.pairs(attributes)
        return [
            Delta(d.metric, d.labels + attribution, d.value, d.exemplar_id)
            if d.metric.attributed
            else d
            for d in out
        ]

    def _deltas(self, team: str, gen: Generation) -> list[Delta]:
        invalid = (
            {attr for attr, field in _FIELD_NAMES.items() if field in gen.invalid_fields}
            if gen.invalid_fields
            else frozenset()
        )
        out: list[Delta] = []

        def skip(attr: str) -> None:
            if _FIELD_NAMES[attr] in gen.unavailable:
                return
            reason = "invalid" if attr in invalid else "missing"
            out.append(
                delta(
                    GENERATION_OBSERVATIONS_SKIPPED,
                    1,
                    vercel_team=team,
                    field=_FIELD_NAMES[attr],
                    reason=reason,
                )
            )

        model, provider, folded = self._place(team, gen.model, gen.provider_name)
        base = {
            "vercel_team": team,
            "model": model,
            "provider": provider,
            "operation": self.operation(gen),
        }
        # The series labels every generation family starts with, built once per generation
        # rather than once per delta (a commit of a hundred drained generations makes two
        # thousand deltas).
        pairs: LabelPairs = tuple((name, base[name]) for name in GENERATION_LABELS)
        for attr in ("model", "provider_name"):
            if getattr(gen, attr) is None:
                skip(attr)

        if gen.total_cost is None:
            skip("total_cost")
        else:
            out.append(Delta(GENERATION_COST, pairs, gen.total_cost, gen.id))
        for attr, metric in (
            ("latency_ms", GENERATION_TIME_TO_FIRST_TOKEN),
            ("generation_time_ms", GENERATION_DURATION),
        ):
            if metric is GENERATION_TIME_TO_FIRST_TOKEN and gen.streamed is not True:
                # Unstreamed, the first token comes with the whole answer: latency equals
                # generation_time and would inflate every TTFT percentile.
                continue
            millis = getattr(gen, attr)
            if millis is None:
                skip(attr)
            else:
                out.append(Delta(metric, pairs, millis / MILLISECONDS, gen.id))
        for attr, token_type in TOKEN_FIELDS:
            count = getattr(gen, attr)
            if count is None:
                skip(attr)
            else:
                labels = (*pairs, ("token_type", token_type))
                out.append(Delta(GENERATION_TOKENS, labels, Decimal(count), gen.id))
        if self.pricing is not None and gen.native_tokens_cached:
            out.append(self._savings(self.pricing.cache_savings(gen), base))

        finish = (
            self.finish_reasons.admit(safe_label(gen.finish_reason))
            if gen.finish_reason
            else UNKNOWN
        )
        if folded or finish == OTHER:
            out.append(delta(GENERATION_OBSERVATIONS_FOLDED, 1, vercel_team=team))
        for attr in ("finish_reason", "streamed", "is_byok"):
            if getattr(gen, attr) is None:
                skip(attr)
        flags = (
            ("finish_reason", finish),
            ("streamed", _flag(gen.streamed)),
            ("byok", _flag(gen.is_byok)),
        )
        out.append(Delta(GENERATION_REQUESTS, (*pairs, *flags), ONE))
        if gen.is_byok:
            if gen.upstream_inference_cost is None:
                skip("upstream_inference_cost")
            else:
                out.append(delta(GENERATION_BYOK_COST, gen.upstream_inference_cost, **base))
        for family, cost in (
            (GENERATION_MARKET_COST, gen.market_cost),
            (GENERATION_SURCHARGE_COST, gen.surcharge_cost),
        ):
            if cost:  # optional fields: an older record without them is not incomplete
                out.append(delta(family, cost, **base))
        if gen.billable_web_search_calls is None:
            skip("billable_web_search_calls")
        elif gen.billable_web_search_calls:
            out.append(delta(GENERATION_WEB_SEARCH_CALLS, gen.billable_web_search_calls, **base))
        return out

    @staticmethod
    def _savings(saved: Decimal | str, base: dict[str, str]) -> Delta:
        """Savings are committed with the lookup like every other observation, so they are
        counted exactly once; unknown ones are counted by reason, never guessed."""
        if isinstance(saved, Decimal):
            return delta(GENERATION_CACHE_SAVINGS, saved, **base)
        return delta(
            GENERATION_CACHE_SAVINGS_UNKNOWN,
            1,
            vercel_team=base["vercel_team"],
            model=base["model"],
            reason=saved,
        )


def operation_label(operation: str | None) -> str:
    """A span's gen_ai.operation.name as a label: one of the gateway's four, else other."""
    if operation is None:
        return UNKNOWN
    return operation if operation in OPERATIONS else OTHER


def _flag(value: bool | None) -> str:
    return UNKNOWN if value is None else str(value).lower()
