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
import logging
import random
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

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
from exporter.generations.operations import Defer, PendingRow, Reschedule, Resolve
from exporter.generations.store import Store, StoreUnavailable
from exporter.generations.writer import StateWriter

log = logging.getLogger(__name__)

BACKOFF_CAP = 300.0
# A schedule further ahead than this at start came from a clock set back since (Store.reanchor);
# only a long Retry-After is moved early by it, which costs one more 429.
REANCHOR_HORIZON = 2 * BACKOFF_CAP
# 404s an ID must get before its age may give it up as not found: the age alone is wall time,
# which a clock set forward across a restart makes look an hour older than it is.
MIN_NOT_FOUND_ANSWERS = 5
# Seconds after arrival in which 404s are retried on the backoff: a record appears seconds
# after its generation ends (9 s measured), and the simulator's late ones after a minute.
EARLY_WINDOW = 120.0
BUDGET_BURST_SECONDS = 60.0  # the retry budget may be spent this many seconds ahead
AUTH_PAUSE = 60.0
STORE_PAUSE = 5.0
IDLE_WAIT = 1.0
MIN_IDLE = 0.05  # seconds an idle scheduler waits at least before it asks for due rows again
# Seconds a lookup's outcome waits for others to share its commit: at 300 lookups a second
# each had one to itself (a sync to disk and the series it changes written out each time),
# which cost as much CPU as the requests themselves; 20 ms still left the writer's threads
# 0.28 ms of CPU a lookup, a quarter second 0.09-0.12 (seventy to a commit). Outcomes reach
# /metrics that much later, against scrape intervals of 15 s and more.
COMMIT_LINGER = 0.25


@dataclass(frozen=True)
class LookupSettings:
    concurrency: int = 8
    rate: float = 20.0  # lookups per second per team
    initial_delay: float = 5.0
    max_age: float = 900.0  # a 404 this long after arrival gives an ID up as not found
    retry_budget: float = 5.0  # retries per second per team
    # While the gateway gives no answer about an ID (errors, rate limits, a refused key), it
    # stays queued until intake would refuse it as stale: an outage never abandons it.
    max_wait: float = 7 * 86400.0


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
        self._in_flight: set[str] = set()  # looked up or being committed: not due again yet
        self._tasks: set[asyncio.Task[None]] = set()  # lookups and their commits
        self._ready: OrderedDict[str, PendingRow] = OrderedDict()  # due, not yet started
        self._refill: asyncio.Task[int] | None = None
        self._settled: set[str] = set()  # committed while the running top-up reads
        self._outcomes: list[tuple[str, Resolve | Reschedule]] = []  # for the next commit
        self._refused = False  # a lasting refusal (key, budget, URL) was logged

    async def run(self) -> None:
        try:
            while True:
                await self._dispatch_due()
        finally:
            tasks: list[asyncio.Task[Any]] = [*self._tasks]
            if self._refill is not None:
                tasks.append(self._refill)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _dispatch_due(self) -> None:
        """Start the next due lookup once a slot is free, or wait for work.

        The next rows are asked for while a round of lookups is still queued here: a ``due``
        query waits behind any commit in progress, and slots left idle meanwhile cost lookups
        (a due query took about 20 ms under load, with a third of the slots idle at its end).
        """
        if self._credits is not None and self._credits.misdirected:
            await asyncio.sleep(IDLE_WAIT)  # IDs stay pending; the credits poll says why
            return
        if not self._ready:
            if not await self._top_up_soon():
                await self._idle()
            return
        await self._slots.acquire()
        row = self._take()
        if row is None:  # the lookups running took the rest meanwhile
            self._slots.release()
            return
        self._spawn(self._lookups(row))

    def _take(self) -> PendingRow | None:
        """The next queued row (marked in flight), or None; with a round left, asks for more."""
        if not self._ready:
            return None
        _, row = self._ready.popitem(last=False)
        self._in_flight.add(row.id)
        if len(self._ready) == self._settings.concurrency:
            self._top_up_soon()
        return row

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _top_up_soon(self) -> asyncio.Task[int]:
        """The top-up under way, or a new one. A failed one stays until the dispatcher awaits
        it, so a store that cannot be read stops the scheduler as it did before the read
        ahead."""
        if self._refill is None:
            self._refill = asyncio.create_task(self._top_up())
        return self._refill

    async def _top_up(self) -> int:
        """Queue up to ``concurrency * 4`` due rows (IDs queued or in flight skipped), and
        put off retries the budget cannot pay for; how many rows it queued."""
        now = self._clock.steady()
        room = self._settings.concurrency * 4 - len(self._ready)
        taken = len(self._in_flight) + len(self._ready)
        self._settled.clear()
        rows = await asyncio.to_thread(self._store.due, self.team, now, room + taken)
        # An ID whose commit landed during the query may have been read as still pending.
        skip = self._in_flight | self._settled | self._ready.keys()
        rows = [row for row in rows if row.id not in skip]
        rows = rows[:room]
        unpaid = [row for row in rows if row.attempts and not self._retries.take()]
        if unpaid:
            await self._defer(unpaid, now)
        paid = [row for row in rows if row not in unpaid]
        self._ready.update((row.id, row) for row in paid)
        self._refill = None
        return len(paid)

    async def _idle(self) -> None:
        """Nothing due: wait for new IDs (the writer's wake-up) or the next due time, and at
        least ``MIN_IDLE``. Under load intake commits a thousand times a second, each a
        wake-up: woken by every one, the scheduler asked the state file twice per commit,
        a tenth of the process's CPU (and its lock) while rows were not even due yet."""
        self._wake.clear()
        now = self._clock.steady()
        started = self._clock.monotonic()
        next_due = await asyncio.to_thread(self._store.next_due, self.team)
        wait = IDLE_WAIT if next_due is None else min(max(next_due - now, 0.05), IDLE_WAIT)
        # Not asyncio.wait_for: on Python 3.11 a cancel that lands as its timeout fires is
        # lost (a TimeoutError instead), and a stopping scheduler went on looping.
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({woken}, timeout=wait)
        finally:
            woken.cancel()
        rest = MIN_IDLE - (self._clock.monotonic() - started)
        if rest > 0:
            await self._clock.sleep(rest)

    async def _defer(self, rows: list[PendingRow], now: float) -> None:
        """Put retries off until the budget has refilled, in one commit. Never a give-up: the
        exporter's own backlog says nothing about whether a record exists."""
        ops: list[Defer] = []
        for row in rows:
            # As long again as its backoff: a budget spent by a burst stays spent for a while.
            later = now + retry_delay(row.attempts, self._settings.initial_delay, self._rng)
            ops.append(Defer(row, later))
        results = await asyncio.gather(
            *(self._writer.submit(op) for op in ops), return_exceptions=True
        )
        if any(isinstance(result, StoreUnavailable) for result in results):
            self._limiter.pause(STORE_PAUSE)

    async def _lookups(self, row: PendingRow) -> None:
        """Look ``row`` up, then the next queued row, and so on, in one slot.

        The next request leaves as soon as the last answer is read, as in a bare client loop:
        handing the slot back to the dispatcher cost a task and two turns of the event loop
        per lookup, and left the HTTP pool an idle connection to check on every request.
        A slot bounds requests to the gateway, not commits: each commit runs on its own.
        """
        try:
            next_row: PendingRow | None = row
            while next_row is not None:
                op = await self._fetch(next_row)
                if not self._outcomes:
                    self._spawn(self._commit())
                self._outcomes.append((next_row.id, op))
                misdirected = self._credits is not None and self._credits.misdirected
                next_row = None if misdirected else self._take()
        finally:
            self._slots.release()

    async def _commit(self) -> None:
        """Commit the outcomes of the lookups that end within ``COMMIT_LINGER``, together; each
        ID counts as in flight until then, so it is never dispatched twice. Stopped while it
        waits, it queues them at once (the writer commits what is queued as it stops)."""
        try:
            await asyncio.sleep(COMMIT_LINGER)
        finally:
            outcomes, self._outcomes = self._outcomes, []
            committed = [self._writer.enqueue(op) for _, op in outcomes]
        results = await asyncio.gather(*committed, return_exceptions=True)
        failed = [result for result in results if isinstance(result, BaseException)]
        if any(isinstance(error, StoreUnavailable) for error in failed):
            # The rows stay pending and are looked up again once the disk recovers.
            self._limiter.pause(STORE_PAUSE)
        for gen_id, _ in outcomes:
            self._in_flight.discard(gen_id)
            if self._refill is not None:
                self._settled.add(gen_id)
        self._wake.set()
        for error in failed:
            if not isinstance(error, StoreUnavailable):
                raise error

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
    that blocks it). Only the gateway's own answer about the ID gives it up at its max age: a
    404 (not_found) or a body that is no record (invalid). Errors, rate limits and a refused key
    say nothing about the record, so the ID waits through them up to ``max_wait`` (max_age),
    however long an outage lasts. An answer that is no API's (an HTML page) backs off like an
    error: while it lasts, the credits poll holds the team's lookups (see the module's
    docstring).
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
    answered = isinstance(exc, (NotFoundError, InvalidResponseError))
    deadline = row.received_at + (settings.max_age if answered else settings.max_wait)
    not_found = isinstance(exc, NotFoundError)
    enough = not not_found or row.attempts + 1 >= MIN_NOT_FOUND_ANSWERS
    if now >= deadline and enough:
        return Resolve(row, outcome, abandoned=reason), pause
    later = now + wait
    if not_found and later - row.received_at > EARLY_WINDOW and deadline > now:
        # Past the early window the next lookup is the last, at the max age: an ID that never
        # resolves (a made-up one) costs a handful of lookups, not one every 5 minutes.
        return Reschedule(row, outcome, deadline), pause
    return Reschedule(row, outcome, min(later, deadline) if enough else later), pause
