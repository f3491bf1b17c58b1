"""Every source by name, with when it is on and how it is made, as node_exporter registers its
collectors (``registerCollector(name, isDefaultEnabled, factory)``): ``build`` makes the
enabled ones, and ``source_up`` has a row for each of them and no other.

The registrations are one table (``SOURCES``, below) rather than a side effect of importing
each module: its order is the order the sources are made, started and published in, and a
factory may use a source registered before it (the providers share the catalog's client).
A source is on when the configuration asks for it; there are no ``--collector.*`` flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from exporter.clock import Clock
from exporter.config import Config
from exporter.gateway.catalog_client import CatalogClient
from exporter.gateway.client import GatewayClient
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import ApiMetrics
from exporter.sources.base import Source
from exporter.sources.budgets import BudgetsSource
from exporter.sources.catalog import CatalogSource, ModelsInUse, PriceBook, ProvidersSource
from exporter.sources.credits import CreditsSource
from exporter.sources.reports import ReportsSource
from exporter.teams import Team

S = TypeVar("S", bound=Source)


@dataclass(frozen=True)
class SourceContext:
    """What the factories make sources of: the parts built before them, shared by all."""

    config: Config
    teams: Sequence[Team]
    clients: Mapping[str, GatewayClient]  # each team's AI Gateway client, by team name
    api_metrics: ApiMetrics
    clock: Clock
    prices: PriceBook  # filled by the catalog sources, read by the lookups
    in_use: ModelsInUse  # requests per model, from the generation series


# Whether a source is on, from the configuration and the resolved teams (the demo's differ).
Enabled = Callable[[Config, Sequence[Team]], bool]
# Makes the source from the context and the sources made before it, by name.
Factory = Callable[[SourceContext, Mapping[str, Source]], Source]


@dataclass(frozen=True)
class Registration:
    name: str
    enabled: Enabled
    factory: Factory


class SourceRegistry:
    """Sources by name, in registration order."""

    def __init__(self) -> None:
        self._registrations: dict[str, Registration] = {}

    def register(self, name: str, enabled: Enabled, factory: Factory) -> None:
        if name in self._registrations:
            raise ValueError(f"source {name!r} is registered twice")
        self._registrations[name] = Registration(name, enabled, factory)

    def enabled(self, config: Config, teams: Sequence[Team]) -> list[str]:
        """The names of the sources the configuration turns on, in registration order."""
        return [r.name for r in self._registrations.values() if r.enabled(config, teams)]

    def build(self, context: SourceContext) -> dict[str, Source]:
        """The enabled sources, by name: what the exporter runs and ``source_up`` lists."""
        built: dict[str, Source] = {}
        for name in self.enabled(context.config, context.teams):
            built[name] = self._registrations[name].factory(context, built)
        return built


def source_of(sources: Mapping[str, Source], kind: type[S]) -> S:
    """The built source of class ``kind`` (registered under ``kind.name``), typed as such."""
    source = sources[kind.name]
    if not isinstance(source, kind):
        raise TypeError(f"source {kind.name!r} is a {type(source).__name__}, not {kind.__name__}")
    return source


def _any_team(has: Callable[[Team], object]) -> Enabled:
    def enabled(config: Config, teams: Sequence[Team]) -> bool:
        return any(has(team) for team in teams)

    return enabled


def _credits(context: SourceContext, built: Mapping[str, Source]) -> Source:
    credits = context.config.credits
    return CreditsSource(context.clients, context.clock, credits.interval, credits.max_staleness)


def _reports(context: SourceContext, built: Mapping[str, Source]) -> Source:
    return ReportsSource(context.teams, context.clients, context.clock)


def _budgets(context: SourceContext, built: Mapping[str, Source]) -> Source:
    gateway = context.config.gateway
    return BudgetsSource(context.teams, context.api_metrics, context.clock, gateway.timeout)


def _catalog(context: SourceContext, built: Mapping[str, Source]) -> Source:
    """Polled once for every team, with one client that sends no key and counts its
    requests for no team."""
    gateway, clock = context.config.gateway, context.clock
    client = CatalogClient(
        "",
        gateway.url,
        None,
        context.api_metrics,
        timeout=gateway.timeout,
        retry=RetryPolicy(sleep=clock.sleep),
        clock=clock,
    )
    return CatalogSource(
        client, context.prices, list(context.clients), context.in_use, context.config.catalog, clock
    )


def _providers(context: SourceContext, built: Mapping[str, Source]) -> Source:
    """Shares the catalog's client and waits for its first read (on only with the catalog)."""
    catalog = source_of(built, CatalogSource)
    return ProvidersSource(
        catalog.client,
        context.prices,
        list(context.clients),
        context.in_use,
        catalog.state.attempted,
        context.config.catalog,
        context.clock,
    )


SOURCES = SourceRegistry()
# Always on: free, and what readiness and the credit alerts need.
SOURCES.register(CreditsSource.name, lambda config, teams: True, _credits)
SOURCES.register(ReportsSource.name, _any_team(lambda team: team.config.reports), _reports)
SOURCES.register(BudgetsSource.name, _any_team(lambda team: team.config.budgets), _budgets)
SOURCES.register(CatalogSource.name, lambda config, teams: config.catalog.enabled, _catalog)
SOURCES.register(
    ProvidersSource.name,
    lambda config, teams: config.catalog.enabled and config.catalog.top_models > 0,
    _providers,
)
