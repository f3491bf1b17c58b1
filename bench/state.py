"""A large state file, written through the exporter's own Store and its write paths.

Resolved IDs go in as a lookup's end records them (``remember``), pending ones through intake
(``AddIds``), in Store transactions of 100,000, which takes seconds where resolving a million
IDs through lookups would take hours.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from bench import dataset
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import AddIds, Transaction, remember
from exporter.generations.store import Store

CHUNK = 100_000
TEAM = "default"


@dataclass
class Remember:
    """Resolved IDs, each with its own resolution time and outcome."""

    rows: Sequence[tuple[str, str, float, str]]

    def apply(self, tx: Transaction) -> None:
        remember(tx, self.rows)


def _chunks(rows: Iterator[str]) -> Iterator[list[str]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


def checkpoint(path: Path) -> int:
    """Fold the WAL into the main file; return the main file's size in bytes."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


@dataclass(frozen=True)
class BigState:
    path: Path
    resolved: int
    pending: int
    series_rows: int  # rows of the series table (each one a histogram or counter)
    resolved_only_bytes: int  # the file with only the resolved IDs in it
    total_bytes: int
    ids_only_bytes: int  # baseline: the same IDs in a bare one-column SQLite table
    seconds: float


def build(
    workdir: Path,
    resolved: int = 1_000_000,
    pending: int = 100_000,
    days: float = 6,
    compare: bool = True,
) -> BigState:
    """The state: ``resolved`` IDs resolved over the last ``days`` (past the 7-day retention,
    a start's prune has work to do), ``pending`` IDs and a busy team's series; with
    ``compare``, the same resolved IDs in a bare one-column table beside it."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "big-state.db"
    for old in workdir.glob("big-state.db*"):
        old.unlink()
    rng = random.Random(11)  # noqa: S311 - test data
    now = time.time()
    store = Store(path)
    mirror = SeriesMirror()
    for chunk in _chunks(dataset.fresh_ids("R0", resolved)):
        rows = [(gid, TEAM, now - rng.uniform(0, days * 86400), "found") for gid in chunk]
        store.commit([Remember(rows)], mirror, now)
    store.close()
    resolved_only = checkpoint(path)

    store = Store(path)
    for chunk in _chunks(dataset.fresh_ids("P0", pending)):
        store.commit([AddIds(TEAM, "http", chunk, due_at=now)], mirror, now)
    # ~100,000 exposed series for the one team, committed as the lookups would.
    items = dataset.deltas(pairs_per_team=620, teams=(TEAM,))
    store.commit([dataset.Observe(items)], mirror, now)
    series_rows = len({d.key for d in items})
    store.close()
    total = checkpoint(path)

    bare = workdir / "ids-only.db"
    bare.unlink(missing_ok=True)
    if compare:
        conn = sqlite3.connect(bare)
        try:
            conn.execute("CREATE TABLE ids (id TEXT PRIMARY KEY) WITHOUT ROWID")
            with conn:
                conn.executemany(
                    "INSERT INTO ids VALUES (?)",
                    ((gid,) for gid in dataset.fresh_ids("R0", resolved)),
                )
        finally:
            conn.close()
    return BigState(
        path=path,
        resolved=resolved,
        pending=pending,
        series_rows=series_rows,
        resolved_only_bytes=resolved_only,
        total_bytes=total,
        ids_only_bytes=bare.stat().st_size if compare else 0,
        seconds=time.monotonic() - started,
    )
