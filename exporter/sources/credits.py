"""Credit balance and lifetime spend: a poller per team and the collector of its last good
values.

A scrape never calls upstream: it reads the snapshot, so any number of Prometheus replicas
cost one ``GET /v1/credits`` per team per interval. A snapshot older than the max staleness is
withheld rather than served as if it were current.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import format_duration
from exporter.gateway.models import Credits
from exporter.metrics import CREDITS_BALANCE, CREDITS_USED
from exporter.sources.base import PolledSource
from exporter.sources.health import Health
from exporter.sources.polling import Poller


@dataclass(frozen=True)
class Snapshot:
    credits: Credits
    fetched_mono: float  # monotonic, for staleness


class CreditsClient(Protocol):
    """What the poller needs of a gateway client (GatewayClient, or a script in tests)."""

    async def credits(self) -> Credits: ...


class TeamCredits:
    """What the poller last learned for one team; replaced wholesale, read by scrapes."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.snapshot: Snapshot | None = None
        self.health = Health()


def credits_poller(
    client: CreditsClient,
    state: TeamCredits,
    interval: float,
    clock: Clock,
    rng: random.Random | None = None,
) -> Poller:
    """Polls one team's credits into ``state``."""

    async def fetch() -> None:
        state.snapshot = Snapshot(await client.credits(), clock.monotonic())

    return Poller("credits", state.team, fetch, state.health, interval, clock, rng)


class CreditsCollector(Collector):
    """Balance and lifetime spend per team, from the pollers' snapshots."""

    def __init__(
        self,
        states: Iterable[TeamCredits],
        clock: Clock,
        interval: float,
        max_staleness: float,
    ) -> None:
        self._states = list(states)
        self._clock = clock
        self._max_staleness = max_staleness
        self._age = (
            f"Refreshed every {format_duration(interval)}, so up to that old; withheld once "
            f"older than {format_duration(max_staleness)}."
        )

    def collect(self) -> Iterable[Metric]:
        balance = CREDITS_BALANCE.gauge(self._age)
        used = CREDITS_USED.gauge(self._age)
        now = self._clock.monotonic()
        for state in self._states:
            snapshot = state.snapshot
            if snapshot is None or now - snapshot.fetched_mono > self._max_staleness:
                continue
            balance.add_metric([state.team], float(snapshot.credits.balance))
            used.add_metric([state.team], float(snapshot.credits.total_used))
        return [balance, used]


class CreditsSource(PolledSource):
    """Every team's credits: always on, since they are free and what the alerts need most."""

    name: ClassVar[str] = "credits"

    def __init__(
        self,
        clients: Mapping[str, CreditsClient],
        clock: Clock,
        interval: float,
        max_staleness: float,
    ) -> None:
        self.teams = {team: TeamCredits(team) for team in clients}
        super().__init__(
            {team: state.health for team, state in self.teams.items()},
            [
                credits_poller(clients[team], state, interval, clock)
                for team, state in self.teams.items()
            ],
            CreditsCollector(self.teams.values(), clock, interval, max_staleness),
        )
