"""The credits poller and collector with a fake clock: health, staleness, auth logging, Retry-After.

The poll loop is shared by every source (exporter/sources/polling.py); credits are its first
user, so its behaviour is pinned here through them."""

from __future__ import annotations

import logging
import random
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from exporter import metrics
from exporter.clock import FakeClock
from exporter.gateway.errors import AuthError, GatewayError, RateLimitedError, ServerError
from exporter.gateway.models import Credits
from exporter.metrics import Family
from exporter.sources.credits import CreditsSource, TeamCredits, credits_poller
from exporter.sources.health import SourceHealthCollector
from exporter.sources.polling import Poller


class FakeClient:
    """Answers from a script: a Credits value or an exception per call."""

    def __init__(self, *answers: Credits | GatewayError) -> None:
        self.answers = list(answers)

    async def credits(self) -> Credits:
        answer = self.answers.pop(0)
        if isinstance(answer, GatewayError):
            raise answer
        return answer


def setup(
    *answers: Credits | GatewayError, interval: float = 60, staleness: float = 600
) -> tuple[FakeClock, TeamCredits, Poller, CollectorRegistry]:
    clock = FakeClock()
    client = FakeClient(*answers)
    source = CreditsSource({"prod": client}, clock, interval, staleness)
    state = source.teams["prod"]
    # The source's own poller is the same loop with a random jitter; this one is seeded.
    poller = credits_poller(client, state, interval, clock, rng=random.Random(1))
    registry = CollectorRegistry()
    for collector in (*source.collectors(), SourceHealthCollector({source.name: source})):
        registry.register(collector)
    return clock, state, poller, registry


def value(registry: CollectorRegistry, family: Family) -> float | None:
    labels = {"vercel_team": "prod"}
    if family is metrics.SOURCE_UP:
        labels["source"] = "credits"
    return registry.get_sample_value(family.name, labels)


GOOD = Credits(Decimal("87.31254210"), Decimal("12.68745790"))


async def test_success_publishes_values_and_up() -> None:
    _, state, poller, registry = setup(GOOD)
    assert value(registry, metrics.SOURCE_UP) == 0 and not state.health.attempted.is_set()
    delay = await poller.refresh()
    assert 54 <= delay <= 66, "interval with ±10% jitter"
    assert value(registry, metrics.CREDITS_BALANCE) == pytest.approx(87.3125421)
    assert value(registry, metrics.CREDITS_USED) == pytest.approx(12.6874579)
    assert value(registry, metrics.SOURCE_UP) == 1 and state.health.attempted.is_set()


async def test_failure_keeps_last_values_until_stale_then_withholds_them() -> None:
    clock, _, poller, registry = setup(
        GOOD, ServerError("boom", status=500), ServerError("boom", status=500), staleness=600
    )
    await poller.refresh()
    clock.advance(60)
    await poller.refresh()
    assert value(registry, metrics.SOURCE_UP) == 0
    assert value(registry, metrics.CREDITS_BALANCE) is not None, "last good value still served"
    clock.advance(541)
    await poller.refresh()
    assert value(registry, metrics.CREDITS_BALANCE) is None
    assert value(registry, metrics.CREDITS_USED) is None
    assert value(registry, metrics.SOURCE_UP) == 0


async def test_recovery_sets_up_again() -> None:
    _, state, poller, registry = setup(ServerError("x", status=503), GOOD)
    await poller.refresh()
    assert value(registry, metrics.SOURCE_UP) == 0 and state.health.attempted.is_set(), (
        "a failure is definitive"
    )
    await poller.refresh()
    assert value(registry, metrics.SOURCE_UP) == 1


async def test_retry_after_longer_than_interval_delays_the_next_poll() -> None:
    _, _, poller, _ = setup(RateLimitedError("slow down", status=429, retry_after=100))
    assert await poller.refresh() == 100


async def test_a_huge_retry_after_is_capped_at_two_intervals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One 429 asking for ten minutes must not leave credits (and their alerts) stale."""
    _, _, poller, _ = setup(RateLimitedError("slow down", status=429, retry_after=600))
    with caplog.at_level(logging.WARNING, logger="exporter.sources.polling"):
        assert await poller.refresh() == 120
    assert "credits: Retry-After of 600 s capped at 120 s" in caplog.text


async def test_auth_error_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    error = AuthError("API key rejected for team prod (401: Unauthorized)", status=401)
    _, _, poller, _ = setup(error, error, error, GOOD)
    with caplog.at_level(logging.DEBUG, logger="exporter.sources.polling"):
        for _ in range(4):
            await poller.refresh()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "API key rejected for team prod (401: Unauthorized)"
    ]
    assert any(r.getMessage() == "credits refresh recovered" for r in caplog.records)
