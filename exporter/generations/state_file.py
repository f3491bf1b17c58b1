"""The state file itself: held by one exporter at a time, checked for damage before anything
is counted from it, and created or migrated to this exporter's schema.

Every way the file cannot be used is a StateError whose message says what to do.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import TextIO

from exporter.generations.migration import migrate
from exporter.generations.schema import APPLICATION_ID, SCHEMA_VERSION, create


class StateError(Exception):
    """The state file cannot be used; the message says what to do. Stops the start."""


def open_state(path: Path) -> tuple[sqlite3.Connection, TextIO]:
    """The state file at ``path``, ready for use: a connection to it (created, or checked and
    brought to this schema) and the lock file that keeps other exporters out while it is open.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"state directory {path.parent}: {exc.strerror}") from None
    kept_before = _lock_path(path).exists()  # an exporter kept a state here before
    owner = _exclusive(path)  # before anything is read: another process may write
    if kept_before and not path.exists():
        owner.close()
        raise StateError(
            f"state file {path} is missing, yet {_lock_path(path).name} shows an exporter kept "
            "its state here: starting empty would lose its pending IDs and reset its counters. "
            f"Restore {path.name} from a backup, or delete {_lock_path(path)} to start afresh"
        )
    if path.exists() and path.stat().st_size == 0:
        owner.close()
        raise StateError(
            f"state file {path} is empty (0 bytes), so it is not a state this exporter "
            "wrote; if it was truncated, its pending IDs and counters are gone. Delete it "
            "to start afresh, or restore it from a backup"
        )
    existed = path.exists()
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        _prepare(conn, path, existed)
    except sqlite3.OperationalError as exc:
        owner.close()
        raise StateError(
            f"state file {path} cannot be opened for writing ({exc}); check that "
            f"{path.parent} is writable and has free space"
        ) from None
    except sqlite3.DatabaseError as exc:
        owner.close()
        raise damaged(path, str(exc)) from None
    return conn, owner


def _prepare(conn: sqlite3.Connection, path: Path, existed: bool) -> None:
    """Refuse a file that is not this exporter's or is damaged; create or migrate the tables."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if existed and app_id != APPLICATION_ID:
        raise StateError(
            f"state file {path} belongs to another program (SQLite application_id "
            f"{app_id:#x}); point --state.path at a file of this exporter's own"
        )
    if existed and version > SCHEMA_VERSION:
        raise StateError(
            f"state file {path} was written by a newer exporter (schema {version}, "
            f"this one knows {SCHEMA_VERSION}); upgrade the exporter"
        )
    if existed:
        verdict = _check(conn, whole=version < SCHEMA_VERSION)
        if verdict != "ok":
            raise damaged(path, verdict)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 5000")
    if existed and version < SCHEMA_VERSION:
        try:
            migrate(conn, path, version)
        except ValueError as exc:
            raise StateError(
                f"state file {path} cannot be migrated to this exporter's schema "
                f"({exc}); nothing in it was changed: keep running the previous exporter on "
                "it, or move it aside to start afresh"
            ) from None
    elif not existed:
        conn.execute("BEGIN IMMEDIATE")
        create(conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")


def _exclusive(path: Path) -> TextIO:
    """Hold an OS lock on ``<state file>.lock`` for as long as the returned file is open.

    Two exporters on one state file would each count what they looked up into series the
    other overwrites; the second one must not start. The kernel drops the lock when the
    process dies, kill -9 included, so a crash never leaves a stale lock behind.
    """
    lock_path = _lock_path(path)
    try:
        owner = open(lock_path, "a+")  # noqa: SIM115 - held open for the process lifetime
    except OSError as exc:
        raise StateError(f"state lock {lock_path}: {exc.strerror}") from None
    try:
        fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner.seek(0)
        holder = owner.read().strip() or "unknown"
        owner.close()
        raise StateError(
            f"state file {path} is in use by another exporter (pid {holder}); two exporters "
            "on one state file lose counts: give each replica its own --state.path"
        ) from None
    owner.seek(0)
    owner.truncate()
    owner.write(f"{os.getpid()}\n")
    owner.flush()
    return owner


def damaged(path: Path, detail: str) -> StateError:
    return StateError(
        f"state file {path} is damaged ({detail.splitlines()[0]}); stop here rather than "
        "count from a wrong state: restore the file from a backup, or move it aside and start "
        "with a new --state.path (the pending IDs and counters in it are then lost)"
    )


# Every page of the ID tables, which grow with traffic, and of their indexes.
_WALKS = (
    "SELECT COUNT(*) FROM resolved NOT INDEXED",
    "SELECT COUNT(*) FROM pending NOT INDEXED",
    "SELECT COUNT(*) FROM pending INDEXED BY pending_due",
    "SELECT COUNT(attempts) FROM pending INDEXED BY pending_fresh",
)


def _check(conn: sqlite3.Connection, whole: bool) -> str:
    """Find damage at start, not at the first scrape or lookup that touches it: "ok" or what
    is wrong (a damaged page of the ID tables raises sqlite3.DatabaseError).

    quick_check reads and checks every page and cell. The ID tables are most of the file, and
    checking them so would add a third to a start (0.25 s for a million resolved IDs), so they
    are walked instead: every page is read and must parse, which finds a page overwritten or
    cut short, at a tenth of the cost. The other tables are checked in full, and so is the
    whole file before a migration, which reads it all anyway.
    """
    if whole:
        return str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
    tables = conn.execute(
        "SELECT name FROM sqlite_master "
        "WHERE type = 'table' AND name NOT IN ('pending', 'resolved')"
    ).fetchall()
    for (table,) in tables:
        verdict = str(conn.execute(f"PRAGMA quick_check({table})").fetchone()[0])
        if verdict != "ok":
            return verdict
    for walk in _WALKS:
        conn.execute(walk).fetchone()
    return "ok"


def _lock_path(path: Path) -> Path:
    """The lock file beside the state file; it outlives every run, so it also tells that a
    state existed here."""
    return path.with_name(path.name + ".lock")
