"""Where generation IDs enter the store, whatever path brought them: each team's queue bound,
one durable commit, and the recent arrivals the landing page shows. The HTTP side of
``POST /generations`` and ``POST /v1/traces`` is exporter/web/.

A refusal is an ``IntakeError`` (status, message, headers): ``web/`` answers it as JSON or as
OTLP's ``google.rpc.Status``; a full queue or an unwritable disk is a 503 with Retry-After,
never a silent drop.

An ID made longer ago than the dedup retention, or later than now, is refused as ``stale`` or
``future`` on every path (a drain's root spans too, whose replay past the retention would
otherwise count again): the exporter cannot tell whether a stale one was counted already (its
resolved row may be pruned), and such IDs come from replayed history (a chat's earlier turns, an
old log) far more often than from a generation still worth counting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from exporter.clock import Clock
from exporter.gateway.models import canonical_generation_id
from exporter.generations import idcodec
from exporter.generations.activity import Activity
from exporter.generations.attribution import Attribution
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import AddIds, Operation
from exporter.generations.store import StoreUnavailable
from exporter.generations.writer import StateWriter

ID_HINT = "not a generation ID (expected gen_ followed by 26 Crockford base32 characters)"
MAX_ID_ECHO = 64  # characters of a rejected value echoed back
CLOCK_SKEW = 300.0  # seconds an ID's time may be ahead of this host's clock
# The most of a team's lookup queue one intake path may fill: a flood of made-up IDs through one
# path (say, unauthenticated spans) leaves the rest for the others (a signed drain, pushes).
PATH_SHARE = 0.75
WINDOW_HINTS = {
    "stale": "made before the dedup retention (--state.dedup-retention): it may have been "
    "counted already, so it is not looked up",
    "future": "made later than now by this host's clock (the ID is not a real one, or the "
    "clock is wrong)",
}


class IntakeError(Exception):
    """A request refused as a whole, with its status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def split_ids(values: Sequence[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Valid IDs in order, in their canonical (upper-case) form, and a reason for each string
    that is not one."""
    valid: list[str] = []
    rejected: list[dict[str, str]] = []
    for value in values:
        canonical = canonical_generation_id(value.strip())
        if canonical is not None:
            valid.append(canonical)
        else:
            rejected.append({"id": value[:MAX_ID_ECHO], "reason": ID_HINT})
    return valid, rejected


class Accepted(NamedTuple):
    """What became of the IDs of one ``accept``."""

    accepted: int
    duplicates: int
    refused: tuple[tuple[str, str], ...]  # (ID, stale or future)


class Intake:
    """The one place IDs enter the store (HTTP, spans, logs and the demo alike)."""

    def __init__(
        self,
        writer: StateWriter,
        mirror: SeriesMirror,
        teams: Sequence[str],
        clock: Clock,
        initial_delay: float,
        max_pending: int,
        max_ids: int,
        max_id_age: float,
        attribution: Attribution | None = None,
    ) -> None:
        self._writer = writer
        self._attribution = attribution
        # IDs of requests whose commit is awaited, by team and by (team, intake path)
        self._reserved_teams: dict[str, int] = {}
        self._reserved_paths: dict[tuple[str, str], int] = {}
        self._mirror = mirror
        self._teams = tuple(teams)
        self._clock = clock
        self._initial_delay = initial_delay
        self.max_pending = max_pending  # per team; beyond it intake answers 503
        self.path_share = max(1, math.ceil(max_pending * PATH_SHARE))  # per (team, path)
        self.max_ids = max_ids  # per request, whatever the path; beyond it 413
        self._max_id_age = max_id_age  # the dedup retention: older IDs are refused as stale
        self.activity = Activity(clock)  # what the landing page shows as recent arrivals

    def resolve_team(self, team: str | None) -> str:
        if team is None:
            if len(self._teams) == 1:
                return self._teams[0]
            raise IntakeError(
                400,
                f"several teams are configured: say which one with "
                f'"team" ({", ".join(self._teams)})',
            )
        if team not in self._teams:
            raise IntakeError(
                400, f"unknown team {team[:MAX_ID_ECHO]!r} (configured: {', '.join(self._teams)})"
            )
        return team

    async def accept(
        self,
        team: str,
        ids: list[str],
        source: str,
        rejected: int = 0,
        offset: tuple[str, int, int] | None = None,
        attributes: str = "",
    ) -> Accepted:
        """Store ``ids`` durably for ``team`` with their attribution values (as
        ``Attribution`` stores them), all but those outside the ID window."""
        op = self.queue_op(team, ids, source, rejected, offset, attributes)
        accepted, duplicates = await self.commit(
            op, {(team, source): len(op.ids)}, [(team, source, len(ids) + rejected)]
        )
        return Accepted(int(accepted), int(duplicates), op.refused)

    def queue_op(
        self,
        team: str,
        ids: list[str],
        source: str,
        rejected: int = 0,
        offset: tuple[str, int, int] | None = None,
        attributes: str = "",
    ) -> AddIds:
        """The store operation that queues ``ids`` for their first lookup, and counts the
        ones outside the ID window as refused."""
        fresh: list[str] = []
        refused: list[tuple[str, str]] = []
        now = self._clock.time()
        for gen_id in ids:
            outside = self._outside(gen_id, now)
            if outside is None:
                fresh.append(gen_id)
            else:
                refused.append((gen_id, outside))
        due = self._clock.steady() + self._initial_delay
        return AddIds(
            team, source, fresh, due, rejected, offset, attributes, tuple(refused), self._teams
        )

    def outside_window(self, gen_id: str) -> str | None:
        """``stale`` or ``future`` for an ID made outside the ID window, else None."""
        return self._outside(gen_id, self._clock.time())

    def _outside(self, gen_id: str, now: float) -> str | None:
        made = idcodec.created_at(gen_id)
        if made < now - self._max_id_age:
            return "stale"
        if made > now + CLOCK_SKEW:
            return "future"
        return None

    async def commit(
        self,
        op: Operation,
        queued: Mapping[tuple[str, str], int],
        arrivals: Iterable[tuple[str, str, int]],
    ) -> Any:
        """Commit ``op``, which queues up to ``queued`` IDs per (team, intake path), once each
        has room for them; ``arrivals`` (team, intake path, IDs) are then shown as recent
        activity."""
        self.check_room(queued)
        # Held while the commit is awaited, so concurrent requests cannot all pass the check.
        self._reserve(queued, 1)
        try:
            result = await self._writer.submit(op)
        except StoreUnavailable as exc:
            raise IntakeError(
                503, f"IDs not stored: {exc}; retry later", {"Retry-After": "10"}
            ) from None
        finally:
            self._reserve(queued, -1)
        for team, source, count in arrivals:
            self.activity.record(team, source, count)
        return result

    def check_room(self, queued: Mapping[tuple[str, str], int]) -> None:
        """503 when the IDs ``queued`` would pass a team's queue bound (``max_pending``) or an
        intake path's share of it, counting what requests still being committed are adding."""
        wanted: dict[str, int] = {}
        for (team, _), count in queued.items():
            wanted[team] = wanted.get(team, 0) + count
        for team, count in wanted.items():
            reserved = self._reserved_teams.get(team, 0)
            if self._mirror.pending.get(team, 0) + reserved + count > self.max_pending:
                raise IntakeError(
                    503,
                    f"the lookup queue of team {team} is full ({self.max_pending} IDs); "
                    "retry later",
                    {"Retry-After": "30"},
                )
        for (team, path), count in queued.items():
            held = self._mirror.pending_paths.get((team, path), 0)
            held += self._reserved_paths.get((team, path), 0)
            if held + count > self.path_share:
                raise IntakeError(
                    503,
                    f"intake path {path} holds its share of the lookup queue of team {team} "
                    f"({self.path_share} of {self.max_pending} IDs; the rest is kept for the "
                    "other paths); retry later",
                    {"Retry-After": "30"},
                )

    def _reserve(self, queued: Mapping[tuple[str, str], int], sign: int) -> None:
        for (team, path), count in queued.items():
            self._reserved_teams[team] = self._reserved_teams.get(team, 0) + sign * count
            self._reserved_paths[team, path] = (
                self._reserved_paths.get((team, path), 0) + sign * count
            )

    def attributes(self, fields: Mapping[str, str]) -> str:
        """The stored form of attribution fields sent with IDs ("" when none is configured)."""
        return self._attribution.from_fields(fields) if self._attribution else ""
