"""The small interface every source of data implements, so the service runs them in a loop,
and the polled source that credits, reports, budgets and the catalog are built on.

A source is what the exporter watches upstream (credits, reports, budgets): background tasks
that refresh snapshots, collectors that publish them on a scrape, and a health per team.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from prometheus_client.registry import Collector

from exporter.gateway.keys import KeySource
from exporter.sources.health import Health


class Source(ABC):
    name: ClassVar[str]

    @property
    @abstractmethod
    def health(self) -> Mapping[str, Health]:
        """Each polled team's health (empty when the source is off)."""

    @abstractmethod
    def collectors(self) -> Sequence[Collector]:
        """What publishes the source's last good values."""

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background work that refreshes it."""
        return []

    def notes(self) -> list[str]:
        """Lines for the landing page: what the source costs, or why it stopped."""
        return []

    def secrets(self) -> list[KeySource]:
        """The secrets of its own it reads from files, which a reload (SIGHUP) reads again."""
        return []

    async def aclose(self) -> None:
        """Release what the source opened (HTTP clients of its own)."""
        return


class Refresher(Protocol):
    """A poller: ``run`` refreshes its part of the source until it is cancelled."""

    async def run(self) -> None: ...


class PolledSource(Source):
    """Pollers that refresh what one collector publishes, with each team's health: the
    shape every source shares, so a subclass only builds its states, pollers and collector."""

    def __init__(
        self, health: Mapping[str, Health], pollers: Sequence[Refresher], collector: Collector
    ) -> None:
        self._health = health
        self._pollers = pollers
        self._collector = collector

    @property
    def health(self) -> Mapping[str, Health]:
        return self._health

    def collectors(self) -> Sequence[Collector]:
        return [self._collector]

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [poller.run() for poller in self._pollers]
