"""The durable state: pending IDs, resolved IDs, follower offsets and the generation metrics.

SQLite in WAL mode with full sync: an ID acknowledged with 202 is on disk. Writes go through
one writer that groups whatever is waiting into a single transaction (a burst of intake
requests costs one fsync), and every operation commits its bookkeeping and its metric deltas
together — the root of exactly-once. Here: the reads (due IDs, offsets, the mirror at start),
pruning, and the commit of a batch; the file is opened in state_file.py, the operations are in
operations.py and the writer in writer.py.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from exporter.generations import idcodec
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import Operation, PendingRow, Transaction, apply_all
from exporter.generations.schema import read_series, team_code, write_series
from exporter.generations.series import BY_NAME, SeriesKey, safe_labels
from exporter.generations.state_file import damaged, open_state
from exporter.labels import safe_label

log = logging.getLogger(__name__)

PRUNE_CHUNK = 50_000  # resolved rows scanned per step of a prune, with the lock released between

_PENDING_COLUMNS = "id, source, received_at, due_at, attempts, attributes"


class StoreUnavailable(Exception):
    """A write failed (disk full, read-only, I/O error); nothing of it was committed."""


class Store:
    """The SQLite file. Blocking: call from a thread (the writer does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn, self._owner = open_state(path)
        self._lock = threading.Lock()
        self._identity = _identity(path)
        self._lost = False  # the file was removed or replaced: said once, refused ever since
        self._team_codes: dict[str, int] = {}  # teams' stored numbers, as committed

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._locked() as conn:
            conn.close()
        self._owner.close()

    def load(self, mirror: SeriesMirror) -> None:
        """Fill the mirror from disk: what /metrics shows right after a restart."""
        try:
            self._load(mirror)
        except sqlite3.DatabaseError as exc:
            raise damaged(self.path, str(exc)) from None

    def _load(self, mirror: SeriesMirror) -> None:
        with self._locked() as conn:
            unsafe: list[tuple[str, str]] = []  # rows stored with a label value now refused
            # Families share label sets, and label sets share values: each parsed once.
            safe = functools.cache(safe_label)
            parse = functools.cache(lambda labels: safe_labels(labels, safe))
            for metric, labels, value in read_series(conn):
                if metric not in BY_NAME:
                    continue
                pairs, was_safe = parse(labels)
                key = SeriesKey(metric, pairs)
                if not was_safe:
                    unsafe.append((metric, labels))
                known = mirror.values.get(key)
                mirror.values[key] = value if known is None else known.merged(value)
            mirror.set_pending(
                {
                    (team, path): count
                    # Counted before the join, "+" keeping the planner off the indexes: the
                    # table read straight through, not row by row from an index (half the time)
                    for team, path, count in conn.execute(
                        "SELECT name, source, n FROM (SELECT team, source, COUNT(*) AS n "
                        "FROM pending GROUP BY +team, +source) JOIN teams ON code = team"
                    )
                }
            )
            if unsafe:
                self._repair(conn, mirror, unsafe)

    def _repair(
        self, conn: sqlite3.Connection, mirror: SeriesMirror, unsafe: list[tuple[str, str]]
    ) -> None:
        """Store the safe form of series an older exporter stored with unsafe label values
        (merged into the series they now equal), so every scrape can be encoded again."""
        repaired = {SeriesKey(metric, safe_labels(labels)[0]) for metric, labels in unsafe}
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("DELETE FROM series WHERE metric = ? AND labels = ?", unsafe)
        write_series(conn, ((key, mirror.values[key]) for key in repaired))
        conn.execute("COMMIT")
        log.warning(
            "repaired stored label values that could not be published",
            extra={"series": len(unsafe)},
        )

    def due(self, team: str, now: float, limit: int) -> list[PendingRow]:
        """Up to ``limit`` IDs due now: never-tried ones first, newest first, then retries,
        earliest due first, with a quarter of the places kept for retries.

        A burst of IDs that never resolve then cannot hold fresh IDs back: fresh ones jump
        ahead of the burst's first lookups, and its retries queue behind them. Newest first
        also means that, when more arrives than the lookup rate allows, most IDs are looked up
        promptly rather than all of them late.
        """
        fresh_sql = (
            f"SELECT {_PENDING_COLUMNS} FROM pending "
            "WHERE team = ? AND attempts = 0 AND due_at <= ? ORDER BY due_at DESC LIMIT ?"
        )
        retry_sql = (
            f"SELECT {_PENDING_COLUMNS} FROM pending "
            "WHERE team = ? AND attempts > 0 AND due_at <= ? ORDER BY due_at LIMIT ?"
        )
        with self._locked() as conn:
            code = team_code(conn, team)
            retries = conn.execute(retry_sql, (code, now, limit)).fetchall()
            fresh = conn.execute(
                fresh_sql, (code, now, limit - min(len(retries), max(limit // 4, 1)))
            ).fetchall()
        rows = fresh + retries[: limit - len(fresh)]
        return [PendingRow(idcodec.decode(key), team, *rest) for key, *rest in rows]

    def next_due(self, team: str) -> float | None:
        with self._locked() as conn:
            row = conn.execute(
                "SELECT MIN(due_at) FROM pending WHERE team = ?", (team_code(conn, team),)
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def reanchor(self, now: float, horizon: float) -> int:
        """Bring pending times later than ``now + horizon`` to ``now``, once at start; how many
        rows moved. Times are kept on steady time, which a restart anchors to the wall clock
        anew: after the clock was set back across a restart, every schedule lay that far in
        the future and nothing was looked up. (Set forward, IDs only look older: a lookup
        gives one up only after several 404s, whatever its age says.)"""
        with self._locked() as conn:
            conn.execute("BEGIN IMMEDIATE")
            moved = conn.execute(
                "UPDATE pending SET due_at = ? WHERE due_at > ?", (now, now + horizon)
            ).rowcount
            conn.execute("UPDATE pending SET received_at = ? WHERE received_at > ?", (now, now))
            conn.execute("COMMIT")
        return moved

    def offsets(self) -> dict[str, tuple[int, int]]:
        with self._locked() as conn:
            rows = conn.execute("SELECT path, inode, offset FROM follower_offsets").fetchall()
        return {path: (inode, offset) for path, inode, offset in rows}

    def prune(self, before: float, max_rows: int) -> int:
        """Forget resolved IDs older than ``before``, and the oldest beyond ``max_rows``.

        Pending IDs are never forgotten, and a resolved one not before its time: a resend is
        a duplicate for as long as the retention says. The table has no index on the time
        (it would double its size), so this scans it, a chunk at a time, once an hour.
        Drain deliveries are remembered as long as the IDs they resolved.
        """
        with self._locked() as conn:
            conn.execute("DELETE FROM deliveries WHERE received_at < ?", (before,))
        removed, kept = self._forget(before)
        if kept > max_rows:
            with self._locked() as conn:
                newest = conn.execute(
                    "SELECT resolved_at FROM resolved ORDER BY resolved_at LIMIT 1 OFFSET ?",
                    (kept - max_rows - 1,),
                ).fetchone()[0]
            removed += self._forget(newest + 1)[0]
        return removed

    def _forget(self, before: float) -> tuple[int, int]:
        """Delete resolved IDs resolved before ``before``: (how many, how many are left)."""
        removed = kept = 0
        start = b""  # every key sorts after it
        while True:
            with self._locked() as conn:
                end = conn.execute(
                    "SELECT id FROM resolved WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
                    (start, PRUNE_CHUNK - 1),
                ).fetchone()
                chunk = "id > ?" if end is None else "id > ? AND id <= ?"
                bounds = (start,) if end is None else (start, end[0])
                gone = conn.execute(
                    f"DELETE FROM resolved WHERE {chunk} AND resolved_at < ?", (*bounds, before)
                ).rowcount
                if end is None:
                    left = conn.execute(f"SELECT COUNT(*) FROM resolved WHERE {chunk}", bounds)
                    return removed + gone, kept + int(left.fetchone()[0])
            removed, kept, start = removed + gone, kept + PRUNE_CHUNK - gone, end[0]

    def commit(
        self, ops: Sequence[Operation], mirror: SeriesMirror, now: float, wall: float | None = None
    ) -> tuple[list[Any], Transaction]:
        """Apply ``ops`` in one transaction; on any error nothing is written."""
        with self._locked() as conn:
            self._check_identity()
            tx = Transaction(conn, mirror, now, now if wall is None else wall, self._team_codes)
            try:
                conn.execute("BEGIN IMMEDIATE")
                results = apply_all(tx, ops)
                tx.write_series()
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"state store {self.path}: {exc}") from None
                raise
            self._team_codes.update(tx.new_teams)
        return results, tx

    def _check_identity(self) -> None:
        """A file removed or replaced under a running exporter takes every commit with it
        (an unlinked file is written on, and lost at the next start): stop acknowledging, and
        say so loudly, once."""
        try:
            same = _identity(self.path) == self._identity
        except OSError:
            same = False
        if same:
            return
        message = (
            f"state file {self.path} was removed or replaced while the exporter ran: nothing "
            f"is acknowledged any more; restore it, or restart to open what is there now"
        )
        if not self._lost:
            self._lost = True
            log.error(message)
        raise StoreUnavailable(message)


def _identity(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino
