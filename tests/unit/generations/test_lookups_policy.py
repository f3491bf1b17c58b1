"""Due times, backoff, abandonment and the team limiter, without sleeping."""

from __future__ import annotations

import dataclasses
import random

import pytest

from exporter.clock import FakeClock
from exporter.gateway.errors import (
    AuthError,
    BadRequestError,
    InvalidResponseError,
    MisdirectedError,
    NotFoundError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from exporter.generations.lookups import (
    BACKOFF_CAP,
    EARLY_WINDOW,
    MIN_NOT_FOUND_ANSWERS,
    LookupSettings,
    TeamLimiter,
    after_failure,
    retry_delay,
)
from exporter.generations.operations import PendingRow, Reschedule, Resolve

SETTINGS = LookupSettings(concurrency=8, rate=20, initial_delay=5, max_age=900)
NOW = 1_800_000_000.0


def row(attempts: int = 0, age: float = 10) -> PendingRow:
    return PendingRow("gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", "prod", "http", NOW - age, NOW, attempts)


def test_backoff_doubles_from_the_initial_delay_with_jitter() -> None:
    rng = random.Random(7)
    for attempts, nominal in enumerate((5, 10, 20, 40, 80, 160)):
        assert nominal * 0.9 <= retry_delay(attempts, 5, rng) <= nominal * 1.1
    assert retry_delay(30, 5, rng) <= BACKOFF_CAP * 1.1


def test_404_is_pending_then_retried_later() -> None:
    op, pause = after_failure(
        row(attempts=2), NotFoundError("no", status=404), SETTINGS, NOW, random.Random(1)
    )
    assert isinstance(op, Reschedule) and op.outcome == "pending"
    assert 18 <= op.due_at - NOW <= 22
    assert pause is None


def test_404_past_max_age_is_abandoned_as_not_found_after_enough_of_them() -> None:
    """The age is wall time, which a clock set forward across a restart makes an hour older:
    the first 404s never give an ID up, however old it looks."""
    not_found = NotFoundError("no", status=404)
    for attempts in range(MIN_NOT_FOUND_ANSWERS - 1):
        op, _ = after_failure(row(attempts, age=3601), not_found, SETTINGS, NOW, random.Random(1))
        assert isinstance(op, Reschedule) and op.due_at > NOW, attempts
    last = row(MIN_NOT_FOUND_ANSWERS - 1, age=901)
    op, _ = after_failure(last, not_found, SETTINGS, NOW, random.Random(1))
    assert isinstance(op, Resolve) and op.abandoned == "not_found"


def test_an_id_that_never_resolves_costs_a_few_lookups_and_one_at_its_max_age() -> None:
    """Before: retried on a backoff capped at 5 minutes until its max age, 10 lookups for
    each made-up ID (9 of them from the team's retry budget), so a queue of them took weeks
    to leave."""
    received = NOW - SETTINGS.initial_delay  # the first lookup is due after the initial delay
    asked = [NOW]
    current = PendingRow("gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", "prod", "http", received, NOW, 0)
    rng = random.Random(3)
    while True:
        op, _ = after_failure(current, NotFoundError("no", status=404), SETTINGS, asked[-1], rng)
        if isinstance(op, Resolve):
            break
        asked.append(op.due_at)
        current = dataclasses.replace(current, due_at=op.due_at, attempts=current.attempts + 1)
    assert op.abandoned == "not_found"
    # At about 5, 10, 20, 40 and 80 s, then at the max age.
    assert len(asked) == 6, [round(at - received) for at in asked]
    assert asked[-2] - received < EARLY_WINDOW, "the early 404s cover the seconds records take"
    assert asked[-1] - received == SETTINGS.max_age, "the last is asked at the max age"


def test_last_retry_lands_exactly_on_the_max_age() -> None:
    op, _ = after_failure(
        row(attempts=9, age=890), NotFoundError("no", status=404), SETTINGS, NOW, random.Random(1)
    )
    assert isinstance(op, Reschedule) and op.due_at == NOW + 10


def test_429_pauses_the_team_for_retry_after() -> None:
    exc = RateLimitedError("slow", status=429, retry_after=17)
    op, pause = after_failure(row(), exc, SETTINGS, NOW, random.Random(1))
    assert pause == 17 and isinstance(op, Reschedule) and op.due_at == NOW + 17
    assert op.outcome == "rate_limited"


def test_429_without_retry_after_backs_off() -> None:
    op, pause = after_failure(
        row(), RateLimitedError("slow", status=429), SETTINGS, NOW, random.Random(1)
    )
    assert pause is not None and 4.5 <= pause <= 5.5
    assert isinstance(op, Reschedule)


def test_400_is_abandoned_at_once_and_401_is_not_retried_in_a_loop() -> None:
    op, _ = after_failure(
        row(), BadRequestError("bad id", status=400), SETTINGS, NOW, random.Random(1)
    )
    assert isinstance(op, Resolve) and op.abandoned == "rejected"
    op, pause = after_failure(
        row(), AuthError("rejected", status=401), SETTINGS, NOW, random.Random(1)
    )
    assert isinstance(op, Reschedule) and pause == 60 and op.due_at == NOW + 60


def test_an_answer_that_is_no_record_is_given_up_at_the_max_age() -> None:
    exc = InvalidResponseError("x")
    op, _ = after_failure(row(), exc, SETTINGS, NOW, random.Random(1))
    assert isinstance(op, Reschedule) and op.outcome == "invalid"
    op, _ = after_failure(row(age=1000), exc, SETTINGS, NOW, random.Random(1))
    assert isinstance(op, Resolve) and op.abandoned == "invalid"


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (ServerError("x", status=503), "error"),
        (TransportError("x", timeout=True), "error"),
        (RateLimitedError("x", status=429, retry_after=30), "rate_limited"),
        (AuthError("x", status=401), "rejected"),
        (QuotaExceededError("x", status=402), "rejected"),
    ],
)
def test_an_outage_never_gives_an_id_up_before_the_dedup_retention(
    exc: Exception, outcome: str
) -> None:
    """90 s of 503s at 20 IDs/s lost 630 of 1,800 real generations, labelled not_found though
    the gateway never answered 404: errors say nothing about the record."""
    for age in (1000, 86400):
        op, _ = after_failure(row(age=age), exc, SETTINGS, NOW, random.Random(1))  # type: ignore[arg-type]
        assert isinstance(op, Reschedule) and op.outcome == outcome, age
    op, _ = after_failure(row(age=SETTINGS.max_wait), exc, SETTINGS, NOW, random.Random(1))  # type: ignore[arg-type]
    assert isinstance(op, Resolve) and op.abandoned in ("max_age", "rejected")


async def test_limiter_holds_every_lookup_during_a_pause_and_keeps_the_rate() -> None:
    clock = FakeClock()
    limiter = TeamLimiter(rate=10, burst=2, clock=clock)
    start = clock.monotonic()
    for _ in range(2):
        await limiter.acquire()
    assert clock.monotonic() == start, "the burst goes at once"
    await limiter.acquire()
    assert clock.monotonic() - start == pytest.approx(0.1)
    limiter.pause(30)
    paused_at = clock.monotonic()
    await limiter.acquire()
    assert clock.monotonic() - paused_at > 30 - 1e-6


def test_a_403_while_the_key_works_abandons_only_that_id_as_forbidden() -> None:
    """Credits still succeed with the same key: the gateway refuses this record (another
    team's), so pausing the team or retrying would only stall the others."""
    forbidden = AuthError("API key rejected for team prod (403: forbidden)", status=403)
    op, pause = after_failure(row(), forbidden, SETTINGS, NOW, random.Random(1), True)
    assert isinstance(op, Resolve) and op.abandoned == "forbidden" and pause is None
    op, pause = after_failure(row(), forbidden, SETTINGS, NOW, random.Random(1), False)
    assert isinstance(op, Reschedule) and pause == 60, "with the key in doubt, the team waits"
    unauthorized = AuthError("API key rejected for team prod (401: no)", status=401)
    op, pause = after_failure(row(), unauthorized, SETTINGS, NOW, random.Random(1), True)
    assert isinstance(op, Reschedule) and pause == 60, "a 401 is about the key, always"


def test_a_budget_blocking_the_key_pauses_the_team() -> None:
    exc = QuotaExceededError("Quota limit exceeded", status=402)
    op, pause = after_failure(row(), exc, SETTINGS, NOW, random.Random(1), True)
    assert isinstance(op, Reschedule) and op.outcome == "rejected" and pause == 60


def test_an_answer_from_no_api_backs_off_without_pausing_the_team() -> None:
    """A proxy's page may be fleeting; a wrong URL is the credits poll's to find, which then
    holds every lookup of the team (test_lookup_scheduler)."""
    exc = MisdirectedError("gateway.url leads nowhere", status=200)
    op, pause = after_failure(row(attempts=1), exc, SETTINGS, NOW, random.Random(1), True)
    assert isinstance(op, Reschedule) and op.outcome == "error" and pause is None
    assert 9 <= op.due_at - NOW <= 11
