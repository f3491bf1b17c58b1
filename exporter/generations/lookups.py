"""Looking pending IDs up: fresh ones first, bounded concurrency and rate per team.

A generation's record appears some seconds after it completes, so a 404 means "not yet":
the ID is retried with exponential backoff until a max age, then abandoned. A 429 pauses
every lookup of the team (one shared limiter) for as long as the gateway asks. The queue
lives in the store, so a backlog costs disk, not memory, and survives restarts.

What a client can make the exporter ask the gateway is bounded: one lookup per ID it sends,
started at most ``rate`` times a second per team, and retries drawn from a per-team budget
(``retry_budget`` a second, a minute's worth at once). A retry the budget cannot pay for is
put off, and an ID still unpaid at its max age is abandoned without another lookup.

The team's credits polls use the same key and URL, so they tell lookups two things: while
they find no API at the URL, lookups wait instead of spending retries on a misconfiguration;
and while they succeed, a 403 on one generation is about that record (another team's), not
the key, so only that ID is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from dataclasses import dataclass
from typing import Protocol

from exporter.clock import Clock
from exporter.gateway.errors import (
    AuthError,
    BadRequestError,
    GatewayError,
    InvalidResponseError,
    NotFoundError,
    QuotaExceededError,
    RateLimitedError,
)
from exporter.gateway.models import Generation
from exporter.generations.observations import Observer
from exporter.generations.store import (
    Defer,
    PendingRow,
    Reschedule,
    Resolve,
    StateWriter,
    Store,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

BACKOFF_CAP = 300.0
BUDGET_BURST_SECONDS = 60.0  # the retry budget may be spent this many seconds ahead
AUTH_PAUSE = 60.0
STORE_PAUSE = 5.0
IDLE_WAIT = 1.0


@dataclass(frozen=True)
class LookupSettings:
    concurrency: int = 8
    rate: float = 20.0  # lookups per second per team
    initial_delay: float = 5.0
    max_age: float = 900.0
    retry_budget: float = 5.0  # retries per second per team


def retry_delay(attempts: int, base: float, rng: random.Random) -> float:
    """Roughly base, 2·base, 4·base … (±10%), capped: the wait after ``attempts`` failures."""
    return min(base * 2.0 ** max(attempts, 0), BACKOFF_CAP) * rng.uniform(0.9, 1.1)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._clock = clock
        self._stamp = clock.monotonic()

    def take(self) -> bool:
        """One token, if there is one now."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def wait_for_one(self) -> float:
        """Seconds until a token is there (0 when one is)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now


class TeamLimiter:
    """One team's pace: a token bucket at ``rate`` per second, and a pause every lookup obeys."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        self._bucket = TokenBucket(rate, float(burst), clock)
        self._clock = clock
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    async def acquire(self) -> None:
        async with self._lock:  # one waiter at a time keeps the order fair
            while True:
                now = self._clock.monotonic()
                if now < self._paused_until:
                    await self._clock.sleep(self._paused_until - now)
                    continue
                if self._bucket.take():
                    return
                await self._clock.sleep(self._bucket.wait_for_one())


class CreditsView(Protocol):
    """What the team's credits polls, made with the same key and URL, say about both."""

    @property
    def misdirected(self) -> bool:
        """The configured URL leads to no API."""
        ...

    @property
    def key_accepted(self) -> bool:
        """A poll succeeded with the key and nothing refused it since."""
        ...


class GenerationLookup(Protocol):
    """What the scheduler needs of a gateway client (GatewayClient, or a script in tests)."""

    async def generation(self, generation_id: str) -> Generation: ...


class LookupScheduler:
    """Runs one team's lookups until cancelled."""

    def __init__(
        self,
        team: str,
        client: GenerationLookup,
        store: Store,
        writer: StateWriter,
        observer: Observer,
        settings: LookupSettings,
        clock: Clock,
        wake: asyncio.Event,
        rng: random.Random | None = None,
        credits: CreditsView | None = None,
    ) -> None:
        self.team = team
        self._credits = credits
        self._client = client
        self._store = store
        self._writer = writer
        self._observer = observer
        self._settings = settings
        self._clock = clock
        self._wake = wake
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._limiter = TeamLimiter(settings.rate, settings.concurrency, clock)
        self._retries = TokenBucket(
            settings.retry_budget, max(settings.retry_budget * BUDGET_BURST_SECONDS, 1.0), clock
        )
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._refused = False  # a lasting refusal (key, budget, URL) was logged

    async def run(self) -> None:
        try:
            while True:
                await self._dispatch_due()
        finally:
            for task in list(self._in_flight.values()):
                task.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def _dispatch_due(self) -> None:
        if self._credits is not None and self._credits.misdirected:
            await asyncio.sleep(IDLE_WAIT)  # IDs stay pending; the credits poll says why
            return
        now = self._clock.steady()
        limit = self._settings.concurrency * 4
        rows = await asyncio.to_thread(
            self._store.due, self.team, now, limit + len(self._in_flight)
        )
        rows = [row for row in rows if row.id not in self._in_flight][:limit]
        if not rows:
            self._wake.clear()
            next_due = await asyncio.to_thread(self._store.next_due, self.team)
            wait = IDLE_WAIT if next_due is None else min(max(next_due - now, 0.05), IDLE_WAIT)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            return
        unpaid = [row for row in rows if row.attempts and not self._retries.take()]
        if unpaid:
            await self._defer(unpaid, now)
        for row in rows:
            if row in unpaid:
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._lookup(row), name=f"lookup:{row.id}")
            self._in_flight[row.id] = task
            task.add_done_callback(functools.partial(self._done, row.id))

    async def _defer(self, rows: list[PendingRow], now: float) -> None:
        """Put retries off until the budget has refilled (or give them up at their max age),
        in one commit."""
        ops: list[Defer | Resolve] = []
        for row in rows:
            deadline = row.received_at + self._settings.max_age
            # As long again as its backoff: a budget spent by a burst stays spent for a while.
            later = now + retry_delay(row.attempts, self._settings.initial_delay, self._rng)
            if now < deadline:
                ops.append(Defer(row, min(later, deadline)))
            else:
                ops.append(Resolve(row, None, abandoned="not_found"))
        results = await asyncio.gather(
            *(self._writer.submit(op) for op in ops), return_exceptions=True
        )
        if any(isinstance(result, StoreUnavailable) for result in results):
            self._limiter.pause(STORE_PAUSE)

    def _done(self, gen_id: str, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(gen_id, None)
        self._wake.set()

    async def _lookup(self, row: PendingRow) -> None:
        try:
            op = await self._fetch(row)
        finally:
            # A slot bounds requests to the gateway, not commits: holding it through the
            # commit made every lookup wait for the disk too (about 8% fewer lookups per
            # second at 50 ms latency). The ID stays in _in_flight until it is committed, so
            # it is never dispatched twice.
            self._slots.release()
        try:
            await self._writer.submit(op)
        except StoreUnavailable:
            # The row stays pending and is looked up again once the disk recovers.
            self._limiter.pause(STORE_PAUSE)

    async def _fetch(self, row: PendingRow) -> Resolve | Reschedule:
        """One request to the gateway, and what to commit for it."""
        await self._limiter.acquire()
        try:
            gen = await self._client.generation(row.id)
        except GatewayError as exc:
            op = self._after_failure(row, exc)
        except Exception:  # a bug must not turn into a tight retry loop: back off instead
            log.exception("generation lookup failed unexpectedly", extra={"id": row.id})
            op = self._after_failure(row, GatewayError("unexpected error"))
        else:
            if gen.id != row.id:
                op = self._after_failure(
                    row, InvalidResponseError(f"asked for {row.id}, got {gen.id}")
                )
            else:
                self._refused = False
                op = Resolve(row, "found", self._observer.deltas(self.team, gen, row.attributes))
        return op

    def _after_failure(self, row: PendingRow, exc: GatewayError) -> Resolve | Reschedule:
        key_accepted = self._credits is not None and self._credits.key_accepted
        op, pause = after_failure(
            row, exc, self._settings, self._clock.steady(), self._rng, key_accepted
        )
        if pause is not None:
            self._limiter.pause(pause)
        if isinstance(op, Resolve) and op.abandoned == "forbidden":
            log.info(
                "generation refused while the key works: abandoned as forbidden",
                extra={"team": self.team, "id": row.id},
            )
        elif exc.persistent:
            if not self._refused:
                log.error(exc.message, extra={"team": self.team})
            self._refused = True
        elif isinstance(exc, (BadRequestError, InvalidResponseError)):
            log.warning(
                "unusable generation lookup",
                extra={"team": self.team, "id": row.id, "error": exc.message},
            )
        return op


def after_failure(
    row: PendingRow,
    exc: GatewayError,
    settings: LookupSettings,
    now: float,
    rng: random.Random,
    key_accepted: bool = False,
) -> tuple[Resolve | Reschedule, float | None]:
    """What a failed lookup leads to, and how long the whole team should pause (if at all).

    400: the gateway says the ID is bad, so it is abandoned at once; so is a 403 while the key
    is known to work (``key_accepted``): the record is refused, not the key. Anything else is
    retried with backoff (or after Retry-After, or after a pause for a refused key or a budget
    that blocks it) until the ID's max age, then abandoned with a reason that says what kept it
    from being found. An answer that is no API's (an HTML page) backs off like an error: while
    it lasts, the credits poll holds the team's lookups (see the module's docstring).
    """
    if isinstance(exc, BadRequestError):
        return Resolve(row, "rejected", abandoned="rejected"), None
    if isinstance(exc, AuthError) and exc.status == 403 and key_accepted:
        return Resolve(row, "rejected", abandoned="forbidden"), None
    pause: float | None = None
    wait = retry_delay(row.attempts, settings.initial_delay, rng)
    if isinstance(exc, NotFoundError):
        outcome, reason = "pending", "not_found"
    elif isinstance(exc, RateLimitedError):
        outcome, reason = "rate_limited", "max_age"
        pause = wait = exc.retry_after if exc.retry_after is not None else wait
    elif isinstance(exc, (AuthError, QuotaExceededError)):
        outcome, reason = "rejected", "rejected"
        pause = wait = AUTH_PAUSE
    elif isinstance(exc, InvalidResponseError):
        outcome, reason = "invalid", "invalid"
    else:
        outcome, reason = "error", "max_age"
    deadline = row.received_at + settings.max_age
    if now >= deadline:
        return Resolve(row, outcome, abandoned=reason), pause
    return Reschedule(row, outcome, min(now + wait, deadline)), pause
