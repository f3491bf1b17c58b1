"""Wires the generation parts together: store, writer, intake, followers, lookups, collector."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import Config, ConfigError
from exporter.gateway.client import GatewayClient
from exporter.generations.attribution import Attribution, attribution_names
from exporter.generations.collector import GenerationsCollector
from exporter.generations.follower import LogFollower
from exporter.generations.intake import Intake
from exporter.generations.lookups import (
    REANCHOR_HORIZON,
    CreditsView,
    LookupScheduler,
    LookupSettings,
)
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import CachePricing, LabelLimiter, Observer
from exporter.generations.otlp import OtlpIntake, TeamMapping
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter
from exporter.metrics import GENERATION_REQUESTS

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
# Background work waits at most this long at start for the first reads it follows (the
# catalog's prices, the credits polls).
FIRST_READS_WAIT = 15.0


def parse_follow(spec: str, teams: Sequence[str]) -> tuple[str, Path]:
    """``PATH`` (the first team) or ``TEAM=PATH``."""
    team, sep, path = spec.partition("=")
    if not sep:
        return teams[0], Path(spec)
    if team not in teams:
        raise ConfigError(f"ingest.follow {spec!r}: unknown team {team!r}")
    return team, Path(path)


def _request_labels(mirror: SeriesMirror) -> list[dict[str, str]]:
    """The labels of every stored requests series: one walk over the mirror (a busy team's
    hundred thousand series), which every label value set below is read from."""
    name = GENERATION_REQUESTS.name
    return [dict(key.labels) for key in mirror.values if key.metric == name]


def _known(series: list[dict[str, str]], *labels: str) -> set[tuple[str, ...]]:
    """The values (tuples of ``labels``) the stored generation series already use."""
    return {
        tuple(values[label] for label in labels)
        for values in series
        if all(label in values for label in labels)  # attribution labels may be new
    }


class FirstPoll(CreditsView, Protocol):
    """A team's credits polls as the pipeline sees them: what lookups read of them, and
    whether the first one was made."""

    @property
    def attempted(self) -> asyncio.Event: ...


class GenerationPipeline:
    def __init__(
        self,
        config: Config,
        clients: Mapping[str, GatewayClient],
        clock: Clock,
        mirror: SeriesMirror,
        credits: Mapping[str, FirstPoll] | None = None,
        pricing: CachePricing | None = None,
    ) -> None:
        """``mirror``: an empty mirror, which the stored series are loaded into; what reads
        it besides the pipeline (the catalog's ModelUsage) is built on it beforehand."""
        self._config = config
        self._clients = clients
        self._clock = clock
        self._credits = credits or {}
        self._pricing = pricing
        self.teams = list(clients)
        self._follows = [parse_follow(spec, self.teams) for spec in config.ingest.follow]
        self.store = Store(config.state.path)
        self.mirror = mirror
        self.store.load(self.mirror)
        moved = self.store.reanchor(clock.steady(), REANCHOR_HORIZON)
        if moved:
            log.warning(
                f"{moved} pending lookups were scheduled further ahead than any retry waits: "
                f"the clock was set back since they were written; they are due now"
            )
        for team, count in sorted(self.mirror.pending.items()):
            if count and team not in self.teams:
                log.warning(
                    f"{count} IDs are pending for team {team!r}, which is no longer configured "
                    f"(renamed or removed): none is looked up until a configured team sends it "
                    f"again, which takes it over",
                    extra={"team": team},
                )
        self.wake = {team: asyncio.Event() for team in self.teams}
        self.writer = StateWriter(self.store, self.mirror, clock, self.wake)
        limit = config.generations.max_models
        stored = _request_labels(self.mirror)
        self.attribution = (
            Attribution(
                config.attribution,
                {
                    label: (v for (v,) in _known(stored, label))
                    for label in attribution_names(config.attribution)
                },
            )
            if config.attribution.labels
            else None
        )
        self.observer = Observer(
            models=LabelLimiter(limit, (m for (m,) in _known(stored, "model"))),
            providers=LabelLimiter(limit, (p for (p,) in _known(stored, "provider"))),
            finish_reasons=LabelLimiter(32, (f for (f,) in _known(stored, "finish_reason"))),
            series=LabelLimiter(
                config.generations.max_series,
                _known(stored, "vercel_team", "model", "provider"),
            ),
            pricing=pricing,
            attribution=self.attribution,
        )
        self.intake = Intake(
            self.writer,
            self.mirror,
            self.teams,
            clock,
            config.lookup.initial_delay,
            config.ingest.max_pending,
            config.ingest.max_ids,
            config.state.dedup_retention,
            self.attribution,
        )
        try:
            mapping = TeamMapping(config.otlp, self.teams)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.otlp = OtlpIntake(
            self.intake,
            mapping,
            config.otlp,
            self.teams,
            self.observer,
            self.attribution,
        )
        self.collector = GenerationsCollector(
            self.mirror,
            self.teams,
            self.attribution.names if self.attribution else (),
            self.attribution.help_text() if self.attribution else "",
        )

    def collectors(self) -> list[Collector]:
        """The pipeline's collectors besides ``collector``, which renders incrementally."""
        extra = [self.attribution] if self.attribution else []
        return [self.otlp, *extra]

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background work, in start order (the writer first)."""
        lookup = self._config.lookup
        settings = LookupSettings(
            lookup.concurrency,
            lookup.rate,
            lookup.initial_delay,
            lookup.max_age,
            lookup.retry_budget,
            self._config.state.dedup_retention,
        )
        offsets = self.store.offsets()
        prices = [] if self._pricing is None else [self._pricing.ready]
        polls = {team: credits.attempted for team, credits in self._credits.items()}
        work: list[Coroutine[Any, Any, None]] = [
            self.writer.run(),
            self._after(self._prune, *polls.values()),
        ]
        work += [
            self._after(
                LookupScheduler(
                    team,
                    self._clients[team],
                    self.store,
                    self.writer,
                    self.observer,
                    settings,
                    self._clock,
                    self.wake[team],
                    credits=self._credits.get(team),
                ).run,
                *prices,
                *([polls[team]] if team in polls else []),
            )
            for team in self.teams
        ]
        work += [
            LogFollower(path, team, self.intake, self._clock, offsets.get(str(path))).run()
            for team, path in self._follows
        ]
        return work

    async def _after(self, work: Callable[[], Awaitable[None]], *first: asyncio.Event) -> None:
        """Runs ``work`` once the first reads ``first`` stands for were made (or tried), or
        FIRST_READS_WAIT passed.

        Lookups follow the catalog's prices (IDs resumed after a restart would otherwise be
        looked up before any price is known, and their cache savings counted as unknown for
        good) and their team's first credits poll (which says whether its key and URL work:
        a start with a wrong one does not send its backlog to be refused). The prune pass
        follows every team's first poll: a restart's backlog and prune, on a big state, would
        otherwise take the cores from the polls that make the exporter ready.
        """
        if first:
            waits: list[asyncio.Future[Any]] = [
                asyncio.ensure_future(asyncio.gather(*(event.wait() for event in first))),
                asyncio.ensure_future(self._clock.sleep(FIRST_READS_WAIT)),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        await work()

    async def _prune(self) -> None:
        state = self._config.state
        while True:
            removed = await asyncio.to_thread(
                self.store.prune, self._clock.steady() - state.dedup_retention, state.dedup_max_rows
            )
            if removed:
                log.info("forgot old resolved IDs", extra={"count": removed})
            await self._clock.sleep(PRUNE_EVERY)

    async def close(self) -> None:
        """Commit what is queued, then close the file (after the tasks were cancelled)."""
        await self.writer.drain()
        await asyncio.to_thread(self.store.close)
