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
        self.pending: dict[str, int] = {}
