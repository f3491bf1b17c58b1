"""Credit balance and lifetime spend: a background poller per team and the collector that
publishes its last good values.

A scrape never calls upstream: it reads the snapshot, so any number of Prometheus replicas
cost one ``GET /v1/credits`` per team per interval. A snapshot older than the max staleness is
withheld rather than served as if it were current.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import format_duration
from exporter.gateway.errors import AuthError, GatewayError
from exporter.gateway.models import Credits
from exporter.metrics import name

log = logging.getLogger(__name__)

JITTER = 0.1


@dataclass(frozen=True)
class Snapshot:
    credits: Credits
    fetched_at: float  # wall clock, for the landing page
    fetched_mono: float  # monotonic, for staleness


class TeamCredits:
    """What the poller last learned for one team; replaced wholesale, read by scrapes."""

    def __init__(self, team: str) -> None:
        self.team = team
        self.snapshot: Snapshot | None = None
        self.up = False
        self.attempted = asyncio.Event()
        self.last_error: str | None = None


class CreditsSource(Protocol):
    """What the poller needs of a gateway client (GatewayClient, or a script in tests)."""

    async def credits(self) -> Credits: ...


class CreditsPoller:
    """Polls one team's credits every interval (with jitter), forever."""

    def __init__(
        self,
        client: CreditsSource,
        state: TeamCredits,
        interval: float,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self._interval = interval
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._auth_failing = False

    async def run(self) -> None:
        while True:
            delay = await self.refresh()
            await self._clock.sleep(delay)

    async def refresh(self) -> float:
        """One poll (with the client's inline retries); returns the seconds until the next."""
        state = self._state
        next_delay = self._interval * self._rng.uniform(1 - JITTER, 1 + JITTER)
        try:
            credits = await self._client.credits()
        except GatewayError as exc:
            state.up = False
            state.last_error = exc.message
            self._log_failure(exc)
            if exc.retry_after is not None:
                next_delay = max(next_delay, exc.retry_after)
        else:
            state.snapshot = Snapshot(credits, self._clock.time(), self._clock.monotonic())
            if not state.up and state.attempted.is_set():
                log.info("credits refresh recovered", extra={"team": state.team})
            state.up = True
            state.last_error = None
            self._auth_failing = False
        state.attempted.set()
        return next_delay

    def _log_failure(self, exc: GatewayError) -> None:
        team = self._state.team
        if isinstance(exc, AuthError):
            # Logged loudly once; repeating it every interval would bury everything else.
            level = logging.DEBUG if self._auth_failing else logging.ERROR
            self._auth_failing = True
            log.log(level, exc.message, extra={"team": team, "code": exc.code})
        else:
            log.warning(
                "credits refresh failed",
                extra={"team": team, "code": exc.code, "error": exc.message},
            )


class CreditsCollector(Collector):
    """Balance, lifetime spend and ``up`` per team, from the pollers' snapshots."""

    def __init__(
        self,
        states: Mapping[str, TeamCredits],
        clock: Clock,
        interval: float,
        max_staleness: float,
    ) -> None:
        self._states = states
        self._clock = clock
        self._max_staleness = max_staleness
        age = (
            f"refreshed every {format_duration(interval)}, so up to that old; withheld once "
            f"older than {format_duration(max_staleness)}"
        )
        self._balance_help = f"Remaining AI Gateway credit balance in USD ({age})."
        self._used_help = f"Lifetime AI Gateway spend in USD, total_used ({age})."

    def collect(self) -> Iterable[Metric]:
        balance = GaugeMetricFamily(
            name("credits_balance_usd"), self._balance_help, labels=["team"]
        )
        used = GaugeMetricFamily(name("credits_used_usd"), self._used_help, labels=["team"])
        up = GaugeMetricFamily(
            name("up"),
            "1 if the last refresh of the team's credits succeeded, else 0.",
            labels=["team"],
        )
        now = self._clock.monotonic()
        for team, state in self._states.items():
            up.add_metric([team], 1.0 if state.up else 0.0)
            snapshot = state.snapshot
            if snapshot is None or now - snapshot.fetched_mono > self._max_staleness:
                continue
            balance.add_metric([team], float(snapshot.credits.balance))
            used.add_metric([team], float(snapshot.credits.total_used))
        return [balance, used, up]
