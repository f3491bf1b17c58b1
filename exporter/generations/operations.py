"""The writes to the state, each an operation applied inside one transaction.

An operation's bookkeeping (pending and resolved IDs, drain deliveries, follower offsets) and
its metric deltas are committed together or not at all, the root of exactly-once. The single
writer (StateWriter) groups whatever operations are waiting, and Store.commit applies them in
one transaction.
"""

from __future__ import annotations

import math
import sqlite3
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from exporter.gateway.models import Generation
from exporter.generations import idcodec
from exporter.generations.attribution import decode as decode_attributes
from exporter.generations.attribution import encode as encode_attributes
from exporter.generations.mirror import Exemplar, SeriesMirror
from exporter.generations.schema import FAILED, FOUND, add_team, outcome_code, write_series
from exporter.generations.series import Delta, LabelPairs, SeriesKey, SeriesValue, delta
from exporter.metrics import (
    GENERATION_IDS_ABANDONED,
    GENERATION_IDS_RECEIVED,
    GENERATION_LOOKUP_DELAY,
    GENERATION_LOOKUP_RETRIES_DEFERRED,
    GENERATION_LOOKUPS,
    Family,
    Type,
)

DRAIN = "drain"  # the intake label of IDs whose root span a verified drain delivered
_HISTOGRAM = Type.HISTOGRAM  # an enum member read through its class costs an attribute lookup


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
        self,
        conn: sqlite3.Connection,
        mirror: SeriesMirror,
        now: float,
        wall: float,
        team_codes: Mapping[str, int] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now  # steady time: what due and receive times are kept in
        self.wall = wall  # for exemplar timestamps, which people read
        self._mirror = mirror
        self._team_codes = team_codes or {}  # committed before this transaction
        self.new_teams: dict[str, int] = {}  # numbered in it: known to others once committed
        self._changing: dict[tuple[str, LabelPairs], _Changing] = {}
        self.changes: dict[SeriesKey, SeriesValue] = {}  # the new values, once written
        self._exemplars: dict[tuple[SeriesKey, int], Delta] = {}
        self.exemplars: dict[tuple[SeriesKey, int], Exemplar] = {}  # once written
        self.pending_delta: dict[tuple[str, str], int] = {}  # (team, intake path): change

    def apply(self, deltas: Iterable[Delta]) -> None:
        """Add ``deltas`` to their series. A commit of a hundred drained generations applies
        two thousand: nothing is looked up twice here (0.87 µs a delta before, 0.77)."""
        changing = self._changing
        for d in deltas:
            metric, labels, value, exemplar_id = d
            series = changing.get((metric.name, labels))
            if series is None:
                series = self._start(metric, labels)
            if metric.type is _HISTOGRAM:
                bucket = bisect_left(metric.buckets, value)
                series.buckets[bucket] += 1
                if exemplar_id is not None:  # the bucket's last one wins: made at the end
                    self._exemplars[(series.key, bucket)] = d
            series.count += 1
            series.total += value

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

    def team(self, name: str) -> int:
        """The stored number of team ``name``, given one if it has none. Numbers never change,
        so the store keeps them: an intake commit asks the teams table nothing."""
        code = self._team_codes.get(name) or self.new_teams.get(name)
        if code is None:
            code = self.new_teams[name] = add_team(self.conn, name)
        return code

    def queue(self, team: str, path: str, change: int) -> None:
        """Note IDs joining (or leaving) the lookup queue of ``team`` by intake ``path``."""
        key = (team, path)
        self.pending_delta[key] = self.pending_delta.get(key, 0) + change

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
    records = [
        (idcodec.encode(gen_id), tx.team(team), math.ceil(at), outcome_code(outcome))
        for gen_id, team, at, outcome in rows
    ]
    tx.conn.executemany("INSERT OR REPLACE INTO resolved VALUES (?, ?, ?, ?)", records)


def claim(
    conn: sqlite3.Connection, keys: Sequence[bytes], team: int, source: str, attributes: str
) -> None:
    """Note that ``team`` sent those of ``keys`` already pending under another team: when that
    team gives the ID up (its key cannot see another team's generation), it passes to this one
    instead of being lost (two teams sending one ID at once: Resolve)."""
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        conn.execute(
            "INSERT OR IGNORE INTO claims (id, team, source, attributes) "
            f"SELECT id, ?, ?, ? FROM pending WHERE id IN ({','.join('?' * len(chunk))}) "
            "AND team != ?",
            (team, source, attributes, *chunk, team),
        )


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
    refused: tuple[tuple[str, str], ...] = ()  # (ID, stale or future): outside the ID window
    # The configured teams: an ID pending under any other (a team renamed or removed since,
    # whose IDs no one looks up) is taken over by this team.
    teams: tuple[str, ...] = ()

    def apply(self, tx: Transaction) -> tuple[int, int]:
        return queue_ids(tx, [self])[0]

    def take_over(self, tx: Transaction, keys: Sequence[bytes], team: int) -> int:
        """Move those of ``keys`` stranded under a team no longer configured to this one, as
        if just received; how many."""
        taken = 0
        configured = ",".join("?" * len(self.teams))
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            stranded = tx.conn.execute(
                f"SELECT id, name, source FROM pending JOIN teams ON code = team "
                f"WHERE id IN ({marks}) "
                f"AND name NOT IN ({configured})",
                (*chunk, *self.teams),
            ).fetchall()
            tx.conn.executemany(
                "UPDATE pending SET team = ?, source = ?, received_at = ?, due_at = ?, "
                "attempts = 0, attributes = ? WHERE id = ?",
                [
                    (team, self.source, tx.now, self.due_at, self.attributes, k)
                    for k, *_ in stranded
                ],
            )
            for _, name, path in stranded:
                tx.queue(name, path, -1)
            taken += len(stranded)
        return taken


def queue_ids(tx: Transaction, ops: Sequence[AddIds]) -> list[tuple[int, int]]:
    """Apply ``ops`` in order, each as if alone, with one resolved query for all of them and
    an insert each. A burst of single-ID requests is one commit of many operations; alone,
    each cost five statements (the team's number twice, the resolved look, the insert), and
    each statement lets go of the GIL and must win it back from the busy server thread.

    (accepted, duplicates) of each. An ID is new unless resolved before (and not reopened for
    this team) or already pending; one already pending may be taken over from a team no
    longer configured, or claimed from another team, as ``AddIds`` says.
    """
    keyed = [[idcodec.encode(gen_id) for gen_id in op.ids] for op in ops]
    resolved = resolved_before(tx.conn, [key for keys in keyed for key in keys])
    results = []
    received: Counter[tuple[str, str, str]] = Counter()  # (team, path, result): IDs
    for op, keys in zip(ops, keyed, strict=True):
        team = tx.team(op.team)
        if resolved:
            keys = [k for k in keys if k not in resolved or _reopen(tx.conn, k, resolved, team)]
        before = tx.conn.total_changes
        tx.conn.executemany(
            "INSERT OR IGNORE INTO pending (id, team, source, received_at, due_at, attributes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(key, team, op.source, tx.now, op.due_at, op.attributes) for key in keys],
        )
        accepted = tx.conn.total_changes - before  # a key already pending is ignored
        if accepted < len(keys) and op.teams:
            accepted += op.take_over(tx, keys, team)
        if accepted < len(keys):
            claim(tx.conn, keys, team, op.source, op.attributes)
        duplicates = len(op.ids) - accepted
        received[(op.team, op.source, "accepted")] += accepted
        received[(op.team, op.source, "duplicate")] += duplicates
        received[(op.team, op.source, "rejected")] += op.rejected
        received.update((op.team, op.source, reason) for _, reason in op.refused)
        if op.offset is not None:
            tx.conn.execute("INSERT OR REPLACE INTO follower_offsets VALUES (?, ?, ?)", op.offset)
        tx.queue(op.team, op.source, accepted)
        results.append((accepted, duplicates))
    tx.apply(
        delta(GENERATION_IDS_RECEIVED, count, vercel_team=team, intake=path, result=result)
        for (team, path, result), count in received.items()
        if count
    )
    return results


def _reopen(
    conn: sqlite3.Connection, key: bytes, resolved: dict[bytes, tuple[int, int]], team: int
) -> bool:
    """``reopened``, keeping ``resolved`` true for the operations after this one."""
    if reopened(conn, key, resolved[key], team):
        del resolved[key]
        return True
    return False


def apply_all(tx: Transaction, ops: Sequence[Operation]) -> list[Any]:
    """Each operation's result, in order; a run of intake operations is applied together
    (``queue_ids``)."""
    results: list[Any] = []
    run: list[AddIds] = []
    for op in [*ops, None]:
        if isinstance(op, AddIds):
            run.append(op)
            continue
        if run:
            results += queue_ids(tx, run)
            run = []
        if op is not None:
            results.append(op.apply(tx))
    return results


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
    refused: Sequence[tuple[str, str]] = ()  # (team, stale or future) of roots out of the window

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
        new: list[bool] = []
        remembered: list[tuple[str, str, float, str]] = []
        received: Counter[tuple[str, str]] = Counter(self.refused)
        for key, root in zip(keys, self.roots, strict=True):
            team = tx.team(root.team)
            if key in resolved and not reopened(tx.conn, key, resolved[key], team):
                new.append(False)
                received[(root.team, "duplicate")] += 1
                continue
            resolved[key] = (team, _FOUND_CODE)  # a root repeated in one delivery counts once
            attributes = root.attributes
            if key in pending:
                owner, path, stored = pending.pop(key)
                tx.conn.execute("DELETE FROM pending WHERE id = ?", (key,))
                tx.queue(owner, path, -1)
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
        queue_ids(tx, self.queue)
        return new


def _pending_rows(
    conn: sqlite3.Connection, keys: Sequence[bytes]
) -> dict[bytes, tuple[str, str, str]]:
    """(team, intake path, attribution values) of those of ``keys`` waiting for a lookup."""
    found: dict[bytes, tuple[str, str, str]] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, name, source, attributes FROM pending JOIN teams ON code = team "
            f"WHERE id IN ({marks})",
            chunk,
        )
        found.update((key, (team, path, attributes)) for key, team, path, attributes in rows)
    return found


def _merged(earlier: str, drained: str) -> str:
    """Attribution values an app's span stored with an ID, completed by the drain span's."""
    if not earlier or not drained:
        return earlier or drained
    return encode_attributes({**decode_attributes(drained), **decode_attributes(earlier)})


# Abandon reasons that may mean "another team's generation": the ID passes to a team that
# claimed it rather than being given up.
HANDED_ON = frozenset({"not_found", "forbidden"})


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
        team = self.row.team
        if self.outcome is not None:
            tx.apply([delta(GENERATION_LOOKUPS, 1, vercel_team=team, outcome=self.outcome)])
        if self.abandoned in HANDED_ON and self._hand_on(tx, key):
            return
        tx.conn.execute("DELETE FROM claims WHERE id = ?", (key,))
        remember(tx, [(self.row.id, team, tx.now, self.abandoned or FOUND)])
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
        tx.queue(team, self.row.source, -1)

    def _hand_on(self, tx: Transaction, key: bytes) -> bool:
        """Queue the ID for another team that sent it while it was pending here, if one did:
        this team's key not seeing it says nothing about theirs. Nothing is abandoned."""
        claimed = tx.conn.execute(
            "SELECT claims.team, name, source, attributes FROM claims "
            "JOIN teams ON code = claims.team WHERE id = ? LIMIT 1",
            (key,),
        ).fetchone()
        if claimed is None:
            return False
        code, name, source, attributes = claimed
        tx.conn.execute("DELETE FROM claims WHERE id = ? AND team = ?", (key, code))
        tx.conn.execute(
            "INSERT INTO pending (id, team, source, received_at, due_at, attributes) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, code, source, tx.now, tx.now, attributes),
        )
        tx.queue(self.row.team, self.row.source, -1)
        tx.queue(name, source, 1)
        return True


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
