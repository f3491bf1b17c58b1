"""How every source reports its health: one ``source_up`` and one last-success time per team.

node_exporter's collectors each report success the same way; the sources here do too, so one
rule (VercelAIGatewayUpstreamFailing) and one panel cover credits, reports and budgets alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.gateway.errors import GatewayError, MisdirectedError
from exporter.metrics import SOURCE_LAST_SUCCESS, SOURCE_UP


class Health:
    """One team's view of one source: up or not, since when, and the last error."""

    def __init__(self) -> None:
        self.up = False
        self.attempted = asyncio.Event()  # set after the first refresh, good or bad
        self.last_success: float | None = None  # wall clock, for dashboards and the page
        self.last_error: str | None = None
        # The kind of a lasting refusal (a rejected key, a budget, a wrong URL) while it lasts.
        self.persistent: type[GatewayError] | None = None

    @property
    def key_accepted(self) -> bool:
        """A refresh succeeded with the key, and no refresh was refused since."""
        return self.last_success is not None and self.persistent is None

    @property
    def misdirected(self) -> bool:
        """The last refresh found no API at the configured URL."""
        return self.persistent is MisdirectedError

    def succeeded(self, at: float) -> None:
        self.up = True
        self.last_success = at
        self.last_error = None
        self.persistent = None
        self.attempted.set()

    def failed(self, message: str, error: GatewayError | None = None) -> None:
        self.up = False
        self.last_error = message
        self.persistent = type(error) if error is not None and error.persistent else None
        self.attempted.set()


class Healthy(Protocol):
    """What the health collector reads of a source."""

    @property
    def health(self) -> Mapping[str, Health]: ...


class SourceHealthCollector(Collector):
    """``source_up`` and ``source_last_success_timestamp_seconds`` of every source and team:
    the sources the registry built, by the name each is registered under (registry.py)."""

    def __init__(self, sources: Mapping[str, Healthy]) -> None:
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        up = SOURCE_UP.gauge()
        last = SOURCE_LAST_SUCCESS.gauge()
        for name, source in self._sources.items():
            for team, health in source.health.items():
                up.add_metric([team, name], 1.0 if health.up else 0.0)
                if health.last_success is not None:
                    last.add_metric([team, name], health.last_success)
        return [up, last]
