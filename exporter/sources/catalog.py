"""The public model catalog: list prices and deprecations of the models in use, the health of
the providers serving the most used ones, and the prices that cache savings are counted at.

The catalog needs no key and is not billed, so it is polled once per exporter, not once per
team, by two pollers: ``catalog`` reads ``GET /v1/models`` (hourly by default) and
``providers`` reads the endpoints route of the top ``catalog.top_models`` models by the
exporter's own traffic (every 5 minutes). Every team's prices, savings and alerts depend on
them, so their health is published under each configured team: the per-team health panel,
filter and rules cover them with no special case.

Cardinality is bounded by design: prices and deprecations only for models the exporter's
traffic used (at most ``generations.max_models``) or listed in ``catalog.models``; provider
health only for the top models, at most ``MAX_PROVIDERS`` providers each. A scrape reads the
last answers and never calls upstream.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import CatalogConfig, format_duration
from exporter.gateway.catalog_client import endpoints_path
from exporter.gateway.catalog_models import MAX_MODELS, CatalogModel, ModelList, ProviderEndpoint
from exporter.gateway.errors import GatewayError, NotFoundError
from exporter.gateway.models import Generation
from exporter.labels import safe_label
from exporter.metrics import (
    MODEL_DEPRECATION,
    MODEL_PROVIDER_STATUS,
    MODEL_PROVIDER_THROUGHPUT,
    MODEL_PROVIDER_TIME_TO_FIRST_TOKEN,
    MODEL_PROVIDER_UPTIME,
    MODEL_TOKEN_PRICE,
    MODEL_TOKEN_PRICE_TIER,
    MODEL_WEB_SEARCH_PRICE,
)
from exporter.sources.base import PolledSource
from exporter.sources.health import Health
from exporter.sources.polling import Poller

log = logging.getLogger(__name__)

MAX_FIELD_WARNINGS = 20  # unusable fields logged by name per read; the rest are counted

MAX_PROVIDERS = 16  # providers published per model (upstream lists a handful)
STALE_AFTER = 3  # provider health older than this many intervals is withheld
RANKING_WINDOW = 86400.0  # top models by their requests over the last day
ALL_TEAMS = "all"  # the team its log lines name: it is polled for all of them

# Why a generation's cache savings are unknown (the ``reason`` label).
NO_CATALOG = "no_catalog"
UNKNOWN_MODEL = "unknown_model"
NO_PRICE = "no_price"

# A catalog model's type -> the operation it serves, as AI Gateway's trace drain names it.
OPERATION_OF_TYPE = {
    "language": "chat",
    "embedding": "embeddings",
    "image": "generate_content",
    "video": "generate_content",
    "reranking": "retrieval",
}

# Model label value -> requests the exporter has counted for it (persisted, all teams).
ModelsInUse = Callable[[], Mapping[str, int]]


@dataclass(frozen=True)
class CatalogSnapshot:
    """One ``/v1/models`` answer, by model ID and by the label value the ID becomes."""

    models: Mapping[str, CatalogModel]
    by_label: Mapping[str, CatalogModel]

    @classmethod
    def of(cls, answer: ModelList) -> CatalogSnapshot:
        models = {model.id: model for model in answer.models}
        return cls(models, {safe_label(model.id): model for model in answer.models})


def _nothing_to_wait_for() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class PriceBook:
    """The catalog's last answers, shared by the pollers (who write them) and the lookups
    (who count cache savings at them): after the first read at start, a lookup never waits
    for the catalog, it uses what was read last."""

    snapshot: CatalogSnapshot | None = None
    # Model ID -> provider name -> what the endpoints route said, for the top models.
    providers: dict[str, dict[str, ProviderEndpoint]] = field(default_factory=dict)
    # Set once the sources filling the book tried once: each that is made replaces it with
    # its first poll's (the providers' follows the catalog's). Lookups start then
    # (generations/pipeline.py); a book no source fills, the catalog being off, is ready.
    ready: asyncio.Event = field(default_factory=_nothing_to_wait_for)

    def cache_savings(self, gen: Generation) -> Decimal | str:
        """USD the generation's cached input tokens saved: cached tokens times (input price -
        cache-read price); or the reason it is unknown (NO_CATALOG, UNKNOWN_MODEL, NO_PRICE).

        The serving provider's own prices are used when the endpoints route named them (flat
        ones: a provider's tiered price is not read), else the model's list prices. A tiered
        model is always priced by its list tiers for the prompt's size.
        """
        snapshot = self.snapshot
        if snapshot is None:
            return NO_CATALOG
        model = snapshot.models.get(gen.model) if gen.model else None
        if model is None:
            return UNKNOWN_MODEL
        prices = self._cache_prices(model, gen)
        if prices is None or prices[1] > prices[0]:
            return NO_PRICE
        full, read = prices
        return (gen.native_tokens_cached or 0) * (full - read)

    def operation(self, model: str) -> str | None:
        """The operation a model of the catalog's type serves (the trace drain's
        gen_ai.operation.name), or None when the catalog does not list it or its type."""
        snapshot = self.snapshot
        entry = snapshot.models.get(model) if snapshot is not None else None
        if entry is None or entry.type is None:
            return None
        return OPERATION_OF_TYPE.get(entry.type)

    def _cache_prices(self, model: CatalogModel, gen: Generation) -> tuple[Decimal, Decimal] | None:
        """(input, cache-read) price per token for this generation, or None if unknown."""
        if not model.tiered and gen.provider_name:
            offered = self.providers.get(model.id, {}).get(gen.provider_name)
            if offered is not None and {"input", "cache_read"} <= offered.prices.keys():
                return offered.prices["input"], offered.prices["cache_read"]
        full, read = model.prices.get("input"), model.prices.get("cache_read")
        if full is None or read is None:
            return None
        at_full, at_read = full.at(gen.native_tokens_prompt), read.at(gen.native_tokens_prompt)
        return None if at_full is None or at_read is None else (at_full, at_read)


class CatalogReader(Protocol):
    """What the pollers need of a catalog client (CatalogClient, or a script in tests)."""

    async def models(self) -> ModelList: ...

    async def endpoints(self, model_id: str) -> list[ProviderEndpoint]: ...

    async def aclose(self) -> None: ...


def _published(models: Mapping[str, CatalogModel], labels: Iterable[str]) -> list[CatalogModel]:
    return [models[label] for label in sorted(set(labels)) if label in models]


class CatalogCollector(Collector):
    """List prices (per token, per band, per web search call) and deprecation times of the
    models in use or configured."""

    def __init__(self, book: PriceBook, in_use: ModelsInUse, configured: Sequence[str]) -> None:
        self._book = book
        self._in_use = in_use
        self._configured = [safe_label(model) for model in configured]

    def collect(self) -> Iterable[Metric]:
        price, tier, web_search, deprecation = (
            MODEL_TOKEN_PRICE.gauge(),
            MODEL_TOKEN_PRICE_TIER.gauge(),
            MODEL_WEB_SEARCH_PRICE.gauge(),
            MODEL_DEPRECATION.gauge(),
        )
        snapshot = self._book.snapshot
        models = snapshot.by_label if snapshot is not None else {}
        for model in _published(models, [*self._in_use(), *self._configured]):
            label = safe_label(model.id)
            for token_type, listed in model.prices.items():
                price.add_metric([label, token_type], float(listed.base))
                for band in listed.tiers:
                    upper = "+Inf" if band.max_tokens is None else str(band.max_tokens)
                    tier.add_metric(
                        [label, token_type, str(band.min_tokens), upper], float(band.cost)
                    )
            if model.web_search is not None:
                web_search.add_metric([label], float(model.web_search))
            if model.deprecated_at is not None:
                deprecation.add_metric([label], float(model.deprecated_at))
        return [price, tier, web_search, deprecation]


class CatalogSource(PolledSource):
    """``GET /v1/models``: prices and deprecations, and the prices savings are counted at.
    Polled once for every team: its one health is published under each of them."""

    name: ClassVar[str] = "catalog"

    def __init__(
        self,
        client: CatalogReader,
        book: PriceBook,
        teams: Sequence[str],
        in_use: ModelsInUse,
        config: CatalogConfig,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.state = Health()
        self.client = client  # the providers source shares it
        self._book = book
        book.ready = self.state.attempted  # lookups wait for the first read
        self._config = config
        self._reported: set[tuple[str, str]] = set()
        self._skipped = 0
        self._poller = Poller(
            self.name, ALL_TEAMS, self._fetch, self.state, config.prices_interval, clock, rng
        )
        super().__init__(
            dict.fromkeys(teams, self.state),
            [self._poller],
            CatalogCollector(book, in_use, config.models),
        )

    async def _fetch(self) -> None:
        answer = await self.client.models()
        self._book.snapshot = CatalogSnapshot.of(answer)
        self._report(answer)

    def _report(self, answer: ModelList) -> None:
        """Log unusable catalog data once per model and field (skipped entries when their
        number changes), not at every poll."""
        if answer.skipped and answer.skipped != self._skipped:
            log.warning(
                "catalog entries without a usable id skipped", extra={"count": answer.skipped}
            )
        self._skipped = answer.skipped
        if answer.dropped:
            log.warning(
                "catalog lists more models than are read; the rest ignored",
                extra={"read": MAX_MODELS, "ignored": answer.dropped},
            )
        unreported = [
            (model.id, name)
            for model in answer.models
            for name in model.invalid_fields
            if (model.id, name) not in self._reported
        ]
        self._reported.update(unreported)
        for model_id, name in unreported[:MAX_FIELD_WARNINGS]:
            log.warning(
                "catalog field unusable, ignored",
                extra={"model": safe_label(model_id), "field": name},
            )
        if len(unreported) > MAX_FIELD_WARNINGS:  # a broken catalog: one line, not thousands
            log.warning(
                "more catalog fields unusable, ignored",
                extra={"count": len(unreported) - MAX_FIELD_WARNINGS},
            )

    async def aclose(self) -> None:
        """Closes the client, which the providers source shares."""
        await self.client.aclose()

    def notes(self) -> list[str]:
        config = self._config
        note = (
            "Model catalog: free (public, no key, not billed); prices and deprecations every "
            f"{format_duration(config.prices_interval)}, provider health of the top "
            f"{config.top_models} models every {format_duration(config.health_interval)}. "
            "Turn it off with --catalog.enabled=false."
        )
        if self.state.last_error is not None:
            note += f" Last read failed: {self.state.last_error}"
        return [note]


class TrafficRanking:
    """Models ranked by the requests of the last day (then of all time), from samples of the
    exporter's persisted request counters taken at each poll."""

    def __init__(self, clock: Clock, window: float = RANKING_WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._samples: deque[tuple[float, dict[str, int]]] = deque()

    def rank(self, counts: Mapping[str, int]) -> list[str]:
        now = self._clock.monotonic()
        self._samples.append((now, dict(counts)))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        before = self._samples[0][1]
        return sorted(counts, key=lambda m: (-(counts[m] - before.get(m, 0)), -counts[m], m))


@dataclass(frozen=True)
class _Answer:
    endpoints: list[ProviderEndpoint]
    fetched_mono: float


class ProvidersCollector(Collector):
    """Uptime, time to first token, throughput and status of each provider of the top models,
    withheld once older than ``STALE_AFTER`` intervals."""

    def __init__(
        self, answers: Callable[[], Mapping[str, _Answer]], clock: Clock, max_age: float
    ) -> None:
        self._answers = answers
        self._clock = clock
        self._max_age = max_age

    def collect(self) -> Iterable[Metric]:
        uptime, ttft = MODEL_PROVIDER_UPTIME.gauge(), MODEL_PROVIDER_TIME_TO_FIRST_TOKEN.gauge()
        throughput, status = MODEL_PROVIDER_THROUGHPUT.gauge(), MODEL_PROVIDER_STATUS.gauge()
        now = self._clock.monotonic()
        # Names that differ upstream may be one label once made safe: the first is published,
        # since a duplicate series makes Prometheus refuse the whole scrape.
        seen: set[tuple[str, str]] = set()
        for model_id, answer in sorted(self._answers().items()):
            if now - answer.fetched_mono > self._max_age:
                continue
            model = safe_label(model_id)
            for endpoint in answer.endpoints:
                pair = [model, safe_label(endpoint.provider)]
                if (pair[0], pair[1]) in seen:
                    continue
                seen.add((pair[0], pair[1]))
                for window, ratio in endpoint.uptime.items():
                    uptime.add_metric([*pair, window], float(ratio))
                for percentile, seconds in endpoint.latency.items():
                    ttft.add_metric([*pair, percentile], float(seconds))
                for percentile, rate in endpoint.throughput.items():
                    throughput.add_metric([*pair, percentile], float(rate))
                if endpoint.status is not None:
                    status.add_metric(pair, float(endpoint.status))
        return [uptime, ttft, throughput, status]


class ProvidersSource(PolledSource):
    """The endpoints route of the top models: provider health, and provider prices for
    savings. Waits for the catalog's first read, whose IDs say which models exist; polled
    once for every team, like the catalog."""

    name: ClassVar[str] = "providers"

    def __init__(
        self,
        client: CatalogReader,
        book: PriceBook,
        teams: Sequence[str],
        in_use: ModelsInUse,
        catalog_read: asyncio.Event,
        config: CatalogConfig,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self.state = Health()
        self._client = client
        self._book = book
        book.ready = self.state.attempted  # the first poll follows the catalog's first read
        self._in_use = in_use
        self._catalog_read = catalog_read
        self._top = config.top_models
        self._configured = [safe_label(model) for model in config.models]
        self._clock = clock
        self._ranking = TrafficRanking(clock)
        self.answers: dict[str, _Answer] = {}
        interval = config.health_interval
        self._poller = Poller(self.name, ALL_TEAMS, self._fetch, self.state, interval, clock, rng)
        super().__init__(
            dict.fromkeys(teams, self.state),
            [self._poller],
            ProvidersCollector(lambda: self.answers, clock, interval * STALE_AFTER),
        )

    def top_models(self) -> list[str]:
        """IDs of the most used models that the catalog lists, at most ``top_models``; the
        configured ones (catalog.models) follow those in use, so they are priced at their
        providers' prices from their first generation on."""
        snapshot = self._book.snapshot
        if snapshot is None:
            return []
        counts = {**dict.fromkeys(self._configured, 0), **self._in_use()}
        known = (snapshot.by_label.get(label) for label in self._ranking.rank(counts))
        ids = [model.id for model in known if model is not None and endpoints_path(model.id)]
        return ids[: self._top]

    async def _fetch(self) -> None:
        """Every top model's providers; a model that fails keeps its last answer (withheld
        once stale) and fails the refresh after the others were read."""
        await self._catalog_read.wait()
        answers: dict[str, _Answer] = {}
        failure: GatewayError | None = None
        for model_id in self.top_models():
            try:
                endpoints = await self._client.endpoints(model_id)
            except NotFoundError:
                endpoints = []  # listed, yet served by nobody right now
            except GatewayError as exc:
                failure = exc
                if model_id in self.answers:
                    answers[model_id] = self.answers[model_id]
                continue
            answers[model_id] = _Answer(endpoints[:MAX_PROVIDERS], self._clock.monotonic())
        self.answers = answers
        self._book.providers = {
            model_id: {endpoint.provider: endpoint for endpoint in answer.endpoints}
            for model_id, answer in answers.items()
        }
        if failure is not None:
            raise failure

    def notes(self) -> list[str]:
        error = self.state.last_error
        return [] if error is None else [f"Provider health: last refresh failed: {error}"]
