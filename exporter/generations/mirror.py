"""The committed state in memory, what a scrape reads: series values, exemplars, queue lengths.

Store.load fills it at start; after that only the state writer (StateWriter) moves it, once a
transaction is committed, so a scrape never shows what the state file does not hold.
"""

from __future__ import annotations

from typing import NamedTuple

from exporter.generations.series import SeriesKey, SeriesValue


class Exemplar(NamedTuple):
    generation_id: str
    value: float
    timestamp: float


class SeriesMirror:
    """What is committed, in memory, for scrapes: series values, exemplars, queue lengths."""

    def __init__(self) -> None:
        self.values: dict[SeriesKey, SeriesValue] = {}
        self.exemplars: dict[tuple[SeriesKey, int], Exemplar] = {}
        self.pending: dict[str, int] = {}  # IDs queued for a lookup, per team
        # The same by intake path, (team, path): no path may fill a team's queue alone.
        self.pending_paths: dict[tuple[str, str], int] = {}

    def set_pending(self, counts: dict[tuple[str, str], int]) -> None:
        """The queue lengths as a count per (team, intake path)."""
        self.pending, self.pending_paths = {}, {}
        for (team, path), count in counts.items():
            self.queue_changed(team, path, count)

    def queue_changed(self, team: str, path: str, change: int) -> None:
        """IDs joined (or left) the queue of ``team`` by intake ``path``."""
        self.pending[team] = self.pending.get(team, 0) + change
        self.pending_paths[(team, path)] = self.pending_paths.get((team, path), 0) + change
