"""The state file's tables, and the small codes its largest tables hold instead of text.

The resolved table is what grows (one row per ID for the dedup retention), so each row is kept
to what the dedup needs: the ID as 16 bytes (exporter/generations/idcodec.py), the team as a
number from ``teams``, the resolution time in whole seconds and the outcome as a number. It has
no index besides its key: pruning scans it (Store.prune), once an hour, a chunk at a time.

``deliveries`` remembers the digest of each trace drain delivery taken, for the dedup
retention, so a delivery sent again (a lost answer, a replay) counts nothing new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from decimal import Decimal

from exporter.generations.series import SeriesKey, SeriesValue

APPLICATION_ID = 0x56414745  # "VAGE": marks the file as ours
# 1: 0.1.0 (and text IDs, teams and outcomes); 2: compact keys and codes; 3: trace drain
# deliveries, and the operation label on the generation series; 4: claims.
SCHEMA_VERSION = 4

DDL = """
CREATE TABLE IF NOT EXISTS teams (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS pending (
    id BLOB PRIMARY KEY, team INTEGER NOT NULL, source TEXT NOT NULL,
    received_at REAL NOT NULL, due_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    attributes TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_due ON pending (team, due_at);
CREATE INDEX IF NOT EXISTS pending_fresh ON pending (team, attempts, due_at);
CREATE TABLE IF NOT EXISTS claims (
    id BLOB NOT NULL, team INTEGER NOT NULL, source TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '', PRIMARY KEY (id, team)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resolved (
    id BLOB PRIMARY KEY, team INTEGER NOT NULL, resolved_at INTEGER NOT NULL,
    outcome INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    metric TEXT NOT NULL, labels TEXT NOT NULL, count INTEGER NOT NULL, total TEXT NOT NULL,
    buckets TEXT NOT NULL, PRIMARY KEY (metric, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
    digest BLOB PRIMARY KEY, received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS follower_offsets (
    path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Stored codes never change meaning: a new reason takes a new number.
FOUND = "found"
FAILED = "failed"
OUTCOME_CODES = {
    FOUND: 0,
    "not_found": 1,
    "max_age": 2,
    "rejected": 3,
    "forbidden": 4,
    "invalid": 5,
    FAILED: 6,  # a request the gateway answered with an error (its drain span): no record
}


def outcome_code(outcome: str) -> int:
    try:
        return OUTCOME_CODES[outcome]
    except KeyError:
        raise ValueError(f"no stored code for the outcome {outcome!r}") from None


def team_code(conn: sqlite3.Connection, name: str) -> int | None:
    """The number ``name`` is stored under, or None for a team that never stored an ID."""
    row = conn.execute("SELECT code FROM teams WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def add_team(conn: sqlite3.Connection, name: str) -> int:
    """The number of ``name``, given one if it has none (inside the caller's transaction)."""
    conn.execute("INSERT OR IGNORE INTO teams (name) VALUES (?)", (name,))
    return int(conn.execute("SELECT code FROM teams WHERE name = ?", (name,)).fetchone()[0])


def create(conn: sqlite3.Connection) -> None:
    """The tables of this version, statement by statement: ``executescript`` would commit the
    caller's transaction first."""
    for statement in DDL.split(";"):
        if statement.strip():
            conn.execute(statement)


def write_series(conn: sqlite3.Connection, items: Iterable[tuple[SeriesKey, SeriesValue]]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO series (metric, labels, count, total, buckets) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (k.metric, k.labels_json(), v.count, str(v.total), ",".join(map(str, v.buckets)))
            for k, v in items
        ],
    )


def read_series(conn: sqlite3.Connection) -> Iterator[tuple[str, str, SeriesValue]]:
    """Every stored series as (metric, labels JSON, value)."""
    for metric, labels, count, total, buckets in conn.execute("SELECT * FROM series"):
        yield (
            metric,
            labels,
            SeriesValue(
                count, Decimal(total), tuple(map(int, buckets.split(","))) if buckets else ()
            ),
        )
