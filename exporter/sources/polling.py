"""The one poll loop of every periodic source: interval with jitter, Retry-After, health, and
a lasting refusal logged loudly once.

Jitter keeps replicas and teams from polling in lockstep; a rejected key, a budget blocking the
key or a URL that leads to no API is logged at ERROR the first time and at DEBUG while it
lasts, since repeating it every interval would bury everything else in the log. A Retry-After
is honoured up to two intervals: one 429 asking for ten minutes would otherwise leave the
credits, and the alerts on them, ten minutes stale.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from exporter.clock import Clock
from exporter.gateway.errors import GatewayError
from exporter.sources.health import Health

log = logging.getLogger(__name__)

JITTER = 0.1
RETRY_AFTER_INTERVALS = 2.0  # the longest Retry-After honoured, in poll intervals


def jittered(interval: float, rng: random.Random) -> float:
    """``interval`` give or take ``JITTER`` of it."""
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


class Poller:
    """Calls ``fetch`` every interval for one team's source, forever, and keeps its health."""

    def __init__(
        self,
        source: str,
        team: str,
        fetch: Callable[[], Awaitable[None]],
        health: Health,
        interval: float,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._source = source
        self._team = team
        self._fetch = fetch
        self._health = health
        self._interval = interval
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    async def run(self) -> None:
        while True:
            await self._clock.sleep(await self.refresh())

    async def refresh(self) -> float:
        """One poll (with the client's inline retries); returns the seconds until the next."""
        health = self._health
        delay = jittered(self._interval, self._rng)
        try:
            await self._fetch()
        except GatewayError as exc:
            self._log_failure(exc, repeated=exc.persistent and health.persistent is type(exc))
            health.failed(exc.message, exc)
            if exc.retry_after is not None:
                delay = max(delay, self._honoured(exc.retry_after))
        else:
            if health.attempted.is_set() and not health.up:
                log.info(f"{self._source} refresh recovered", extra={"team": self._team})
            health.succeeded(self._clock.time())
        return delay

    def _honoured(self, retry_after: float) -> float:
        cap = self._interval * RETRY_AFTER_INTERVALS
        if retry_after > cap:
            log.warning(
                f"{self._source}: Retry-After of {retry_after:.0f} s capped at {cap:.0f} s "
                "(two poll intervals)",
                extra={"team": self._team},
            )
        return min(retry_after, cap)

    def _log_failure(self, exc: GatewayError, repeated: bool) -> None:
        extra = {"team": self._team, "code": exc.code}
        if exc.persistent:  # the message names the team (or URL) and what was refused
            log.log(logging.DEBUG if repeated else logging.ERROR, exc.message, extra=extra)
        else:
            log.warning(f"{self._source} refresh failed", extra={**extra, "error": exc.message})
