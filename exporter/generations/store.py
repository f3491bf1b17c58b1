"""The durable state: pending IDs, resolved IDs, follower offsets and the generation metrics.

SQLite in WAL mode with full sync: an ID acknowledged with 202 is on disk. Writes go through
one writer that groups whatever is waiting into a single transaction (a burst of intake
requests costs one fsync), and every operation commits its bookkeeping and its metric deltas
together — the root of exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from exporter.clock import Clock
from exporter.gateway.models import Generation
from exporter.generations import idcodec
from exporter.generations.attribution import decode as decode_attributes
from exporter.generations.attribution import encode as encode_attributes
from exporter.generations.mirror import Exemplar, SeriesMirror
from exporter.generations.schema import (
    FAILED,
    FOUND,
    add_team,
    outcome_code,
    read_series,
    team_code,
    write_series,
)
from exporter.generations.series import (
    BY_NAME,
    Delta,
    LabelPairs,
    SeriesKey,
    SeriesValue,
    delta,
)
from exporter.generations.state_file import damaged, open_state
from exporter.metrics import (
    GENERATION_IDS_ABANDONED,
    GENERATION_IDS_RECEIVED,
    GENERATION_LOOKUP_DELAY,
    GENERATION_LOOKUP_RETRIES_DEFERRED,
    GENERATION_LOOKUPS,
    Family,
    Type,
)

log = logging.getLogger(__name__)

MAX_BATCH = 512
DRAIN = "drain"  # the intake label of IDs whose root span a verified drain delivered
PRUNE_CHUNK = 50_000  # resolved rows scanned per step of a prune, with the lock released between

_PENDING_COLUMNS = "id, source, received_at, due_at, attempts, attributes"


class StoreUnavailable(Exception):
    """A write failed (disk full, read-only, I/O error); nothing of it was committed."""


@dataclass(frozen=True)
class PendingRow:
    id: str
    team: str
    source: str
    received_at: float
    due_at: float
    attempts: int
    attributes: str = ""  # attribution values as sent, exporter/generations/attribution.py


@dataclass
class _Changing:
    """One series while a transaction adds to it: mutable, so a hundred observations of one
    series cost a hundred additions, not a hundred copies of its bucket counts."""

    key: SeriesKey
    count: int
    total: Decimal
    buckets: list[int]

    def value(self) -> SeriesValue:
        return SeriesValue(self.count, self.total, tuple(self.buckets))


class Transaction:
    """One write transaction: SQL on ``conn`` plus the metric changes it carries."""

    def __init__(
        self, conn: sqlite3.Connection, mirror: SeriesMirror, now: float, wall: float
    ) -> None:
        self.conn = conn
        self.now = now  # steady time: what due and receive times are kept in
        self.wall = wall  # for exemplar timestamps, which people read
        self._mirror = mirror
        self._changing: dict[tuple[str, LabelPairs], _Changing] = {}
        self.changes: dict[SeriesKey, SeriesValue] = {}  # the new values, once written
        self._exemplars: dict[tuple[SeriesKey, int], Delta] = {}
        self.exemplars: dict[tuple[SeriesKey, int], Exemplar] = {}  # once written
        self.pending_delta: dict[str, int] = {}

    def apply(self, deltas: Iterable[Delta]) -> None:
        for d in deltas:
            metric = d.metric
            series = self._changing.get((metric.name, d.labels))
            if series is None:
                series = self._start(metric, d.labels)
            if metric.type is Type.HISTOGRAM:
                bucket = bisect_left(metric.buckets, d.value)
                series.buckets[bucket] += 1
                if d.exemplar_id is not None:  # the bucket's last one wins: made at the end
                    self._exemplars[(series.key, bucket)] = d
            series.count += 1
            series.total += d.value

    def _start(self, metric: Family, labels: LabelPairs) -> _Changing:
        key = SeriesKey(metric.name, labels)
        current = self._mirror.values.get(key)
        if current is None:
            width = len(metric.buckets) + 1 if metric.type is Type.HISTOGRAM else 0
            series = _Changing(key, 0, Decimal(0), [0] * width)
        else:
            series = _Changing(key, current.count, current.total, list(current.buckets))
        self._changing[(metric.name, labels)] = series
        return series

    def queue(self, team: str, change: int) -> None:
        self.pending_delta[team] = self.pending_delta.get(team, 0) + change

    def write_series(self) -> None:
        self.changes = {series.key: series.value() for series in self._changing.values()}
        self.exemplars = {
            where: Exemplar(str(d.exemplar_id), float(d.value), self.wall)
            for where, d in self._exemplars.items()
        }
        write_series(self.conn, self.changes.items())


class Operation(Protocol):
    def apply(self, tx: Transaction) -> Any: ...


_FOUND_CODE = outcome_code(FOUND)


_IN_CHUNK = 500  # keys per IN (...) query, well under SQLite's bound on parameters


def resolved_before(
    conn: sqlite3.Connection, keys: Sequence[bytes]
) -> dict[bytes, tuple[int, int]]:
    """(team, outcome) of those of ``keys`` resolved before: one query per 500 keys, where a
    query per key cost intake a third of its time."""
    found: dict[bytes, tuple[int, int]] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, team, outcome FROM resolved WHERE id IN ({marks})",
            chunk,
        )
        found.update((key, (team, outcome)) for key, team, outcome in rows)
    return found


def reopened(conn: sqlite3.Connection, key: bytes, before: tuple[int, int], team: int) -> bool:
    """Whether the resolved ID of ``key`` may be queued again for ``team``, given how it was
    resolved ``before`` (team, outcome).

    An ID is counted at most once, so one that was found (under any team) stays a duplicate,
    and so does one that ``team`` itself gave up on. One that another team gave up on was most
    likely sent under the wrong team first: that resolution is forgotten and the ID queued.
    """
    resolved_team, outcome = before
    if outcome == _FOUND_CODE or resolved_team == team:
        return False
    conn.execute("DELETE FROM resolved WHERE id = ?", (key,))
    return True


def remember(tx: Transaction, rows: Iterable[tuple[str, str, float, str]]) -> None:
    """Record resolved IDs as (ID, team, resolution time, outcome): ``found`` or the abandon
    reason. The time rounds up to a whole second, so an ID is never forgotten early."""
    teams: dict[str, int] = {}
    records = []
    for gen_id, team, at, outcome in rows:
        if team not in teams:
            teams[team] = add_team(tx.conn, team)
        records.append((idcodec.encode(gen_id), teams[team], math.ceil(at), outcome_code(outcome)))
    tx.conn.executemany("INSERT OR REPLACE INTO resolved VALUES (?, ?, ?, ?)", records)


@dataclass
class AddIds:
    """Intake: queue new IDs, count duplicates and rejects, optionally move a follower offset."""

    team: str
    source: str
    ids: Sequence[str]
    due_at: float
    rejected: int = 0
    offset: tuple[str, int, int] | None = None  # (path, inode, offset) of a log follower
    attributes: str = ""  # stored with each ID, so a restart does not re-label it

    def apply(self, tx: Transaction) -> tuple[int, int]:
        team = add_team(tx.conn, self.team)
        keys = [idcodec.encode(gen_id) for gen_id in self.ids]
        resolved = resolved_before(tx.conn, keys)
        if resolved:
            keys = [k for k in keys if k not in resolved or reopened(tx.conn, k, resolved[k], team)]
        before = tx.conn.total_changes
        tx.conn.executemany(
            "INSERT OR IGNORE INTO pending (id, team, source, received_at, due_at, attributes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(key, team, self.source, tx.now, self.due_at, self.attributes) for key in keys],
        )
        accepted = tx.conn.total_changes - before  # a key already pending is ignored
        duplicates = len(self.ids) - accepted
        for result, count in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", self.rejected),
        ):
            if count:
                tx.apply(
                    [
                        delta(
                            GENERATION_IDS_RECEIVED,
                            count,
                            vercel_team=self.team,
                            intake=self.source,
                            result=result,
                        )
                    ]
                )
        if self.offset is not None:
            tx.conn.execute("INSERT OR REPLACE INTO follower_offsets VALUES (?, ?, ?)", self.offset)
        tx.queue(self.team, accepted)
        return accepted, duplicates


@dataclass(frozen=True)
class DrainRoot:
    """The root span of one request in a verified trace drain delivery: the generation it
    observed (its values are trusted), or the failure it records, with the deltas of its
    trace's provider and model attempts."""

    team: str
    id: str
    generation: Generation | None  # None: the request failed
    failure: tuple[Delta, ...] = ()
    trace: tuple[Delta, ...] = ()
    attributes: str = ""  # attribution values, as Attribution stores them


ObserveFn = Callable[[str, Generation, str], Sequence[Delta]]


@dataclass
class RecordDelivery:
    """A verified trace drain delivery, whole, in one transaction: a delivery seen before
    (``digest``) counts nothing; each root resolves its ID at once (a pending one too, whatever
    path queued it), unless the ID was counted before; the other IDs are queued.

    ``observe`` turns a generation into its deltas here, inside the transaction, so the
    attribution values an earlier span stored with a pending ID are not lost.
    """

    digest: bytes | None
    roots: Sequence[DrainRoot]
    observe: ObserveFn
    orphans: Sequence[Delta] = ()  # attempts whose root span came in another delivery
    queue: Sequence[AddIds] = ()

    def apply(self, tx: Transaction) -> list[bool] | None:
        """Whether each root was new (None: the delivery was taken before)."""
        if self.digest is not None:
            if tx.conn.execute(
                "SELECT 1 FROM deliveries WHERE digest = ?", (self.digest,)
            ).fetchone():
                return None
            tx.conn.execute("INSERT INTO deliveries VALUES (?, ?)", (self.digest, tx.now))
        keys = [idcodec.encode(root.id) for root in self.roots]
        resolved = resolved_before(tx.conn, keys)
        pending = _pending_rows(tx.conn, keys)
        codes = {team: add_team(tx.conn, team) for team in {root.team for root in self.roots}}
        new: list[bool] = []
        remembered: list[tuple[str, str, float, str]] = []
        received: Counter[tuple[str, str]] = Counter()
        for key, root in zip(keys, self.roots, strict=True):
            team = codes[root.team]
            if key in resolved and not reopened(tx.conn, key, resolved[key], team):
                new.append(False)
                received[(root.team, "duplicate")] += 1
                continue
            resolved[key] = (team, _FOUND_CODE)  # a root repeated in one delivery counts once
            attributes = root.attributes
            if key in pending:
                owner, stored = pending.pop(key)
                tx.conn.execute("DELETE FROM pending WHERE id = ?", (key,))
                tx.queue(owner, -1)
                attributes = _merged(stored, attributes)
            outcome = FOUND if root.generation is not None else FAILED
            remembered.append((root.id, root.team, tx.now, outcome))
            if root.generation is not None:
                tx.apply(self.observe(root.team, root.generation, attributes))
            tx.apply(root.failure)
            tx.apply(root.trace)
            received[(root.team, "accepted")] += 1
            new.append(True)
        remember(tx, remembered)
        tx.apply(
            delta(GENERATION_IDS_RECEIVED, count, vercel_team=team, intake=DRAIN, result=result)
            for (team, result), count in received.items()
        )
        tx.apply(self.orphans)
        for add in self.queue:
            add.apply(tx)
        return new


def _pending_rows(conn: sqlite3.Connection, keys: Sequence[bytes]) -> dict[bytes, tuple[str, str]]:
    """(team, attribution values) of those of ``keys`` waiting for a lookup."""
    found: dict[bytes, tuple[str, str]] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, name, attributes FROM pending JOIN teams ON code = team "
            f"WHERE id IN ({marks})",
            chunk,
        )
        found.update((key, (team, attributes)) for key, team, attributes in rows)
    return found


def _merged(earlier: str, drained: str) -> str:
    """Attribution values an app's span stored with an ID, completed by the drain span's."""
    if not earlier or not drained:
        return earlier or drained
    return encode_attributes({**decode_attributes(drained), **decode_attributes(earlier)})


@dataclass
class Resolve:
    """A lookup's end: record the generation (or abandon it) and forget the pending row."""

    row: PendingRow
    outcome: str | None  # the lookups_total outcome of this last attempt; None: no lookup
    deltas: Sequence[Delta] = ()
    abandoned: str | None = None  # the abandon reason, or None when found

    def apply(self, tx: Transaction) -> None:
        key = idcodec.encode(self.row.id)
        if tx.conn.execute("DELETE FROM pending WHERE id = ?", (key,)).rowcount != 1:
            return  # resolved already: never count twice
        remember(tx, [(self.row.id, self.row.team, tx.now, self.abandoned or FOUND)])
        team = self.row.team
        if self.outcome is not None:
            tx.apply([delta(GENERATION_LOOKUPS, 1, vercel_team=team, outcome=self.outcome)])
        if self.abandoned is None:
            tx.apply(self.deltas)
            waited = Decimal(str(round(tx.now - self.row.received_at, 3)))
            tx.apply(
                [
                    delta(
                        GENERATION_LOOKUP_DELAY,
                        max(waited, Decimal(0)),
                        self.row.id,
                        vercel_team=team,
                    )
                ]
            )
        else:
            tx.apply([delta(GENERATION_IDS_ABANDONED, 1, vercel_team=team, reason=self.abandoned)])
        tx.queue(team, -1)


@dataclass
class Reschedule:
    """A lookup to try again later."""

    row: PendingRow
    outcome: str
    due_at: float

    def apply(self, tx: Transaction) -> None:
        tx.conn.execute(
            "UPDATE pending SET due_at = ?, attempts = attempts + 1 WHERE id = ?",
            (self.due_at, idcodec.encode(self.row.id)),
        )
        tx.apply([delta(GENERATION_LOOKUPS, 1, vercel_team=self.row.team, outcome=self.outcome)])


@dataclass
class Defer:
    """A retry put off without a lookup (the team's retry budget is spent)."""

    row: PendingRow
    due_at: float

    def apply(self, tx: Transaction) -> None:
        tx.conn.execute(
            "UPDATE pending SET due_at = ? WHERE id = ?", (self.due_at, idcodec.encode(self.row.id))
        )
        tx.apply([delta(GENERATION_LOOKUP_RETRIES_DEFERRED, 1, vercel_team=self.row.team)])


class Store:
    """The SQLite file. Blocking: call from a thread (the writer does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn, self._owner = open_state(path)
        self._lock = threading.Lock()

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
            for metric, labels, value in read_series(conn):
                if metric not in BY_NAME:
                    continue
                stored = SeriesKey.parse(metric, labels)
                key = stored.made_safe()
                if key != stored:
                    unsafe.append((metric, labels))
                known = mirror.values.get(key)
                mirror.values[key] = value if known is None else known.merged(value)
            mirror.pending = dict(
                conn.execute(
                    "SELECT name, COUNT(*) FROM pending JOIN teams ON code = team GROUP BY team"
                ).fetchall()
            )
            if unsafe:
                self._repair(conn, mirror, unsafe)

    def _repair(
        self, conn: sqlite3.Connection, mirror: SeriesMirror, unsafe: list[tuple[str, str]]
    ) -> None:
        """Store the safe form of series an older exporter stored with unsafe label values
        (merged into the series they now equal), so every scrape can be encoded again."""
        repaired = {SeriesKey.parse(metric, labels).made_safe() for metric, labels in unsafe}
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
            tx = Transaction(conn, mirror, now, now if wall is None else wall)
            try:
                conn.execute("BEGIN IMMEDIATE")
                results = [op.apply(tx) for op in ops]
                tx.write_series()
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreUnavailable(f"state store {self.path}: {exc}") from None
                raise
        return results, tx


@dataclass
class _Queued:
    op: Operation
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StateWriter:
    """The single writer: batches waiting operations into one transaction each."""

    def __init__(
        self,
        store: Store,
        mirror: SeriesMirror,
        clock: Clock,
        on_commit: Mapping[str, asyncio.Event] | None = None,
    ) -> None:
        self._store = store
        self._mirror = mirror
        self._clock = clock
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._wake = on_commit or {}

    async def submit(self, op: Operation) -> Any:
        item = _Queued(op)
        await self._queue.put(item)
        return await item.future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._flush(batch)

    async def drain(self) -> None:
        """Commit whatever is queued (used at shutdown)."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[_Queued]) -> None:
        try:
            results, tx = await asyncio.to_thread(
                self._store.commit,
                [q.op for q in batch],
                self._mirror,
                self._clock.steady(),
                self._clock.time(),
            )
        except Exception as exc:  # a failed batch must never stall its waiters
            if isinstance(exc, StoreUnavailable):
                log.error("state write failed", extra={"error": str(exc)})
            else:
                log.exception("state write failed unexpectedly")
                exc = StoreUnavailable(f"state store {self._store.path}: internal error")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self._publish(tx)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _publish(self, tx: Transaction) -> None:
        """Move the in-memory mirror to what was just committed."""
        mirror = self._mirror
        # Exemplars first: a scrape that sees a new value sees its exemplar, and the rendering
        # kept for that value (exporter/exposition.py) is complete.
        mirror.exemplars.update(tx.exemplars)
        mirror.values.update(tx.changes)
        for team, change in tx.pending_delta.items():
            mirror.pending[team] = mirror.pending.get(team, 0) + change
            if change > 0 and team in self._wake:
                self._wake[team].set()
