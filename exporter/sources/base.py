"""The small interface every source of data implements, so the service runs them in a loop.

A source is what the exporter watches upstream (credits, reports, budgets): background tasks
that refresh snapshots, collectors that publish them on a scrape, and a health per team.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, ClassVar

from prometheus_client.registry import Collector

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

    async def aclose(self) -> None:
        """Release what the source opened (HTTP clients of its own)."""
        return
