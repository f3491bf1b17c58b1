"""The one poll loop of every periodic source: interval with jitter, Retry-After, health, and
an auth failure logged loudly once.

Jitter keeps replicas and teams from polling in lockstep; a rejected key is logged at ERROR the
first time and at DEBUG while it stays rejected, since repeating it every interval would bury
everything else in the log.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

from exporter.clock import Clock
from exporter.gateway.errors import AuthError, GatewayError
from exporter.sources.health import Health

log = logging.getLogger(__name__)

JITTER = 0.1


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
            self._log_failure(exc, repeated=isinstance(exc, AuthError) and health.auth_failing)
            health.failed(exc.message, auth=isinstance(exc, AuthError))
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
        else:
            if health.attempted.is_set() and not health.up:
                log.info(f"{self._source} refresh recovered", extra={"team": self._team})
            health.succeeded(self._clock.time())
        return delay

    def _log_failure(self, exc: GatewayError, repeated: bool) -> None:
        extra = {"team": self._team, "code": exc.code}
        if isinstance(exc, AuthError):  # the message names the team and what was refused
            log.log(logging.DEBUG if repeated else logging.ERROR, exc.message, extra=extra)
        else:
            log.warning(f"{self._source} refresh failed", extra={**extra, "error": exc.message})
