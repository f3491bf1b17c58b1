"""Are my applications' generations arriving? What the landing page answers, per team and
intake path.

The hour's counts and the last arrival are kept in memory, per minute, since the process
started: they answer a question about now, and the durable totals are the metrics (read here
from the store's mirror, so the page and ``/metrics`` never disagree).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exporter.clock import Clock
from exporter.generations.mirror import SeriesMirror
from exporter.generations.series import ABANDON_REASONS, SeriesKey, SeriesValue
from exporter.metrics import GENERATION_IDS_ABANDONED, GENERATION_IDS_RECEIVED, GENERATION_LOOKUPS

# The values of the intake label, in the order the page lists them: the trace drain, POST
# /generations, the log follower, other spans on POST /v1/traces. Each is listed for every
# team, so a path with nothing on it shows as such instead of being absent.
INTAKE_PATHS = ("drain", "http", "follow", "otlp")
WINDOW_MINUTES = 60


@dataclass
class _Recent:
    minutes: deque[tuple[int, int]] = field(default_factory=deque)  # (minute, IDs), oldest first
    last_monotonic: float = 0.0
    last_wall: float = 0.0


class Activity:
    """IDs received per (team, intake path), per minute over the last hour, and the last
    arrival; monotonic minutes, so a wall clock set back or forward moves no count."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock.time()
        self._recent: dict[tuple[str, str], _Recent] = {}

    def record(self, team: str, intake: str, count: int) -> None:
        """``count`` IDs (valid or not) of ``team`` arrived through ``intake`` just now."""
        if count <= 0:
            return
        now = self._clock.monotonic()
        minute = int(now // 60)
        recent = self._recent.get((team, intake))
        if recent is None:
            recent = self._recent[(team, intake)] = _Recent()
        if recent.minutes and recent.minutes[-1][0] == minute:
            recent.minutes[-1] = (minute, recent.minutes[-1][1] + count)
        else:  # a new minute: the only time one may have grown old
            recent.minutes.append((minute, count))
            self._drop_old(recent, minute)
        recent.last_monotonic = now
        recent.last_wall = self._clock.time()

    def last_hour(self, team: str, intake: str) -> int:
        recent = self._recent.get((team, intake))
        if recent is None:
            return 0
        self._drop_old(recent, int(self._clock.monotonic() // 60))
        return sum(count for _, count in recent.minutes)

    def last_arrival(self, team: str, intake: str) -> tuple[float, float] | None:
        """(wall time, seconds ago) of the last arrival since the start, or None."""
        recent = self._recent.get((team, intake))
        if recent is None:
            return None
        return recent.last_wall, max(self._clock.monotonic() - recent.last_monotonic, 0.0)

    def intakes(self) -> set[str]:
        return {intake for _, intake in self._recent}

    @staticmethod
    def _drop_old(recent: _Recent, minute: int) -> None:
        while recent.minutes and recent.minutes[0][0] <= minute - WINDOW_MINUTES:
            recent.minutes.popleft()


@dataclass(frozen=True)
class PathArrivals:
    """One intake path of one team: the last hour (memory) and the totals (state file)."""

    intake: str
    last_hour: int
    last_arrival: float | None  # wall time, None: nothing since the start
    last_arrival_age: float | None  # seconds
    accepted: int
    duplicates: int
    rejected: int  # not an ID
    out_of_window: int = 0  # stale or future IDs (exporter/generations/intake.py)

    @property
    def received(self) -> int:
        return self.accepted + self.duplicates + self.rejected + self.out_of_window


@dataclass(frozen=True)
class TeamArrivals:
    """One team: its intake paths and what became of the IDs it was sent."""

    team: str
    paths: tuple[PathArrivals, ...]
    pending: int
    counted: int  # looked up and found: their generations are in the metrics
    drained: int  # resolved from a verified drain span: generations and failures
    abandoned: tuple[tuple[str, int], ...]  # (reason, IDs), every known reason
    unseen: str | None = None  # why some of the team's generations never arrive, if known

    @property
    def nothing_yet(self) -> bool:
        return not any(path.received or path.last_hour for path in self.paths)


@dataclass(frozen=True)
class Arrivals:
    since: float  # wall time the hour's counts started from (the process start)
    teams: tuple[TeamArrivals, ...]


def collect_arrivals(
    mirror: SeriesMirror,
    activity: Activity,
    teams: Sequence[str],
    unseen: Mapping[str, str],
) -> Arrivals:
    """What the landing page shows: the activity joined with the committed counters, and per
    team, why some generations never arrive (model-call spans without IDs) when that is known."""
    totals = _totals(dict(mirror.values))
    received = totals[GENERATION_IDS_RECEIVED.name]
    abandoned = totals[GENERATION_IDS_ABANDONED.name]
    found = totals[GENERATION_LOOKUPS.name]
    intakes = [*INTAKE_PATHS]
    intakes += sorted({i for (_, i, _) in received} - set(intakes))
    intakes += sorted(activity.intakes() - set(intakes))
    rows = []
    for team in teams:
        paths = []
        for intake in intakes:
            last = activity.last_arrival(team, intake)
            paths.append(
                PathArrivals(
                    intake,
                    activity.last_hour(team, intake),
                    None if last is None else last[0],
                    None if last is None else last[1],
                    received.get((team, intake, "accepted"), 0),
                    received.get((team, intake, "duplicate"), 0),
                    received.get((team, intake, "rejected"), 0),
                    received.get((team, intake, "stale"), 0)
                    + received.get((team, intake, "future"), 0),
                )
            )
        reasons = [*ABANDON_REASONS]
        reasons += sorted({r for (t, r) in abandoned if t == team} - set(reasons))
        rows.append(
            TeamArrivals(
                team,
                tuple(paths),
                mirror.pending.get(team, 0),
                found.get((team, "found"), 0),
                received.get((team, "drain", "accepted"), 0),
                tuple((reason, abandoned.get((team, reason), 0)) for reason in reasons),
                unseen.get(team),
            )
        )
    return Arrivals(activity.started, tuple(rows))


# metric -> the labels that key its totals (any other label is summed over)
_KEYED_BY = {
    GENERATION_IDS_RECEIVED.name: ("vercel_team", "intake", "result"),
    GENERATION_LOOKUPS.name: ("vercel_team", "outcome"),
    GENERATION_IDS_ABANDONED.name: ("vercel_team", "reason"),
}


def _totals(values: Mapping[SeriesKey, SeriesValue]) -> dict[str, dict[tuple[str, ...], int]]:
    out: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in _KEYED_BY}
    for key, value in values.items():
        labels = _KEYED_BY.get(key.metric)
        if labels is not None:
            pairs = dict(key.labels)
            keyed = tuple(pairs.get(label, "") for label in labels)
            out[key.metric][keyed] = out[key.metric].get(keyed, 0) + int(value.total)
    return out
