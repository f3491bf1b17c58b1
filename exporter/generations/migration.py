"""Bring a state file written by an older exporter to the current schema, once, atomically.

Schema 1 is what 0.1.0 wrote and what later builds kept writing under the same number: IDs,
teams and outcomes as text, an index on the resolution time, and, from 0.1.0 itself, pending
rows without attribution values and series under the metric and label names 0.1.0 published
(renamed since, CHANGELOG "Renamed"). Schema 2 lacks the trace drain's deliveries and the
``operation`` label of the generation series. Everything happens in one transaction: a crash
part way leaves the old file as it was, and the next start migrates it again from the start.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from pathlib import Path

from exporter.generations import idcodec
from exporter.generations.schema import (
    SCHEMA_VERSION,
    create,
    outcome_code,
    read_series,
    write_series,
)
from exporter.generations.series import BY_NAME, SeriesKey, SeriesValue
from exporter.metrics import GENERATION_IDS_ABANDONED, GENERATION_REQUESTS

log = logging.getLogger(__name__)

OPERATION = "operation"
UNKNOWN_OPERATION = "unknown"

# What 0.1.0 called the stored families and labels that were renamed before any release.
V010_METRICS = {
    "vercel_ai_gateway_generations_total": GENERATION_REQUESTS.name,
    "vercel_ai_gateway_generations_abandoned_total": GENERATION_IDS_ABANDONED.name,
}
V010_LABELS = {"team": "vercel_team", "source": "intake", "type": "token_type"}
V010_TOKEN_TYPES = {"prompt": "input", "completion": "output", "cached_read": "cache_read"}


def migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Schema ``version`` to the current one; the caller checked the version and the file's
    integrity.

    Raises ValueError, with nothing changed, when a stored ID or outcome has no compact form.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        counts = _from_v1(conn) if version < 2 else {}
        counts["series_labelled"] = _from_v2(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info(
        "migrated the state file to the current schema",
        extra={"path": str(path), "from": version, "to": SCHEMA_VERSION, **counts},
    )


def _from_v1(conn: sqlite3.Connection) -> dict[str, int]:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(pending)")}
    attributes = "attributes" if "attributes" in columns else "''"  # 0.1.0 had none
    for table in ("pending", "resolved"):
        conn.execute(f"ALTER TABLE {table} RENAME TO v1_{table}")
    for index in ("pending_due", "pending_fresh", "resolved_at"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    create(conn)
    conn.execute(
        "INSERT INTO teams (name) SELECT team FROM v1_pending UNION SELECT team FROM v1_resolved"
    )
    teams = dict(conn.execute("SELECT name, code FROM teams").fetchall())
    resolved = conn.execute("SELECT id, team, resolved_at, outcome FROM v1_resolved")
    # A resolution time rounds up: an ID is never forgotten before its retention is over.
    conn.executemany(
        "INSERT INTO resolved VALUES (?, ?, ?, ?)",
        (
            (idcodec.encode(gen_id), teams[team], math.ceil(at), outcome_code(outcome))
            for gen_id, team, at, outcome in resolved
        ),
    )
    pending = conn.execute(
        f"SELECT id, team, source, received_at, due_at, attempts, {attributes} FROM v1_pending"
    )
    conn.executemany(
        "INSERT INTO pending VALUES (?, ?, ?, ?, ?, ?, ?)",
        ((idcodec.encode(gen_id), teams[team], *rest) for gen_id, team, *rest in pending),
    )
    counts = {
        "resolved": conn.execute("SELECT COUNT(*) FROM resolved").fetchone()[0],
        "pending": conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0],
        "series_renamed": _rename_v010_series(conn),
    }
    conn.execute("DROP TABLE v1_pending")
    conn.execute("DROP TABLE v1_resolved")
    return counts


def _v010_renamed(key: SeriesKey) -> SeriesKey:
    labels = []
    for name, value in key.labels:
        if name == "type":
            value = V010_TOKEN_TYPES.get(value, value)
        labels.append((V010_LABELS.get(name, name), value))
    return SeriesKey(V010_METRICS.get(key.metric, key.metric), tuple(labels))


def _rename_v010_series(conn: sqlite3.Connection) -> int:
    """Series 0.1.0 stored under its names, under today's (added to any series already
    stored under today's names: a later build may have counted into both)."""
    stored: dict[SeriesKey, SeriesValue] = {}
    old: list[tuple[str, str]] = []  # (metric, labels) as stored, to delete
    for metric, labels, value in read_series(conn):
        key = SeriesKey.parse(metric, labels)
        stored[key] = value
        if "team" in key.label_names:
            old.append((metric, labels))
    renamed: dict[SeriesKey, SeriesValue] = {}
    for metric, labels in old:
        key = SeriesKey.parse(metric, labels)
        new = _v010_renamed(key)
        known = renamed.get(new) or stored.get(new)
        renamed[new] = stored[key] if known is None else known.merged(stored[key])
    conn.executemany("DELETE FROM series WHERE metric = ? AND labels = ?", old)
    write_series(conn, renamed.items())
    return len(old)


def _from_v2(conn: sqlite3.Connection) -> int:
    """Schema 2 to 3: the deliveries table, and ``operation="unknown"`` on the generation
    series stored before the label existed (a lookup's record does not say what kind of
    request it was); returns how many series were labelled. Schema 3 to 4 is the claims
    table alone, which ``create`` adds."""
    create(conn)
    old: list[tuple[str, str]] = []
    labelled: dict[SeriesKey, SeriesValue] = {}
    for metric, labels, value in read_series(conn):
        family = BY_NAME.get(metric)
        key = SeriesKey.parse(metric, labels)
        if family is None or OPERATION not in family.labels or OPERATION in key.label_names:
            continue
        old.append((metric, labels))
        new = _with_operation(key, family.labels)
        known = labelled.get(new)
        labelled[new] = value if known is None else known.merged(value)
    conn.executemany("DELETE FROM series WHERE metric = ? AND labels = ?", old)
    write_series(conn, labelled.items())
    return len(old)


def _with_operation(key: SeriesKey, order: tuple[str, ...]) -> SeriesKey:
    """``key`` with ``operation="unknown"`` in its place: the table's labels in the table's
    order, then the attribution labels as stored."""
    values = {**dict(key.labels), OPERATION: UNKNOWN_OPERATION}
    table = tuple((name, values[name]) for name in order if name in values)
    rest = tuple((name, value) for name, value in key.labels if name not in order)
    return SeriesKey(key.metric, table + rest)
