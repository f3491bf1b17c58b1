"""Retry policy for upstream calls: exponential backoff with full jitter, Retry-After first."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from exporter.gateway.errors import GatewayError

T = TypeVar("T")

# A gateway asking for more than this is treated as asking for this: the poller's own
# interval takes over beyond it.
MAX_RETRY_AFTER = 600.0


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header in either form (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    else:
        if seconds != seconds:  # NaN
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    return rng.uniform(0.0, min(cap, base * 2 ** max(attempt - 1, 0)))


class RetryPolicy:
    """How many attempts one logical call gets, and how long to wait between them."""

    def __init__(
        self,
        attempts: int = 3,
        base: float = 0.5,
        cap: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.attempts = attempts
        self.base = base
        self.cap = cap
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto

    def _should_retry(self, exc: BaseException) -> bool:
        """Retry retryable errors, unless the gateway asks for a longer pause than we wait inline:
        then the caller's own schedule (the next poll) takes over."""
        if not isinstance(exc, GatewayError) or not exc.retryable:
            return False
        return exc.retry_after is None or exc.retry_after <= self.cap

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, GatewayError) and exc.retry_after is not None:
            return exc.retry_after
        return backoff_delay(state.attempt_number, self.base, self.cap, self._rng)

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``, retrying retryable gateway errors; the last error is re-raised."""
        kwargs = {"sleep": self._sleep} if self._sleep is not None else {}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
            **kwargs,  # type: ignore[arg-type]
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
