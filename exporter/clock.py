"""Time as an injected dependency, so staleness, backoff and windows are tested without sleeping."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Wall time for timestamps users see, monotonic time for intervals, steady time for
    schedules kept on disk, and a sleep."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def steady(self) -> float:
        """Wall time as it was at start, advanced by the monotonic clock since.

        Due times kept in the state file must be wall times to mean something after a
        restart, yet a wall clock set back an hour would strand them for an hour, and one set
        forward would abandon them early; this clock ignores such jumps while running.
        """
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def __init__(self) -> None:
        self._anchor = time.time() - time.monotonic()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def steady(self) -> float:
        return self._anchor + time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self._anchor = start - self._mono

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def steady(self) -> float:
        return self._anchor + self._mono

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._mono += seconds

    def jump(self, seconds: float) -> None:
        """Set the wall clock forward (or back): time passes for nothing else."""
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)
