"""The state file as a whole: whose it is, whether it is intact, and that one process owns it.

Each refusal stops the start with one line that says what to do; none starts empty over a
file that held data.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from exporter.generations.state_file import StateError
from exporter.generations.store import Store

DAMAGED = r"is damaged \(.*\); stop here .*restore the file from a backup, or move it aside"


def filled(path: Path, rows: int = 2000) -> None:
    """A state file with enough resolved IDs to span many pages."""
    Store(path).close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        with conn:
            conn.executemany(
                "INSERT INTO resolved VALUES (?, 'prod', 0, 'found')",
                [(f"gen_{i:026d}",) for i in range(rows)],
            )
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # into the main file, to damage it


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StateError, match="belongs to another program"):
        Store(path)


def test_a_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StateError, match=DAMAGED):
        Store(path)


def test_damage_in_a_table_the_start_does_not_read_is_found_at_start(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    filled(path)
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'resolved'").fetchone()
    with path.open("r+b") as raw:  # scribble over the resolved table's root page
        raw.seek((root[0] - 1) * page_size)
        raw.write(b"\xff" * page_size)
    with pytest.raises(StateError, match=DAMAGED):
        Store(path)


def test_an_empty_file_is_not_taken_for_a_new_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch()
    with pytest.raises(StateError, match=r"is empty \(0 bytes\).*Delete it to start afresh"):
        Store(path)


def test_a_state_file_deleted_between_runs_is_not_replaced_by_an_empty_one(
    tmp_path: Path,
) -> None:
    """After rm, the next start began empty: every acknowledged ID lost, counters reset. The
    lock file beside it outlives the runs and tells that a state existed."""
    path = tmp_path / "state.db"
    Store(path).close()
    path.unlink()
    with pytest.raises(StateError, match=r"is missing, yet state.db.lock shows") as caught:
        Store(path)
    assert "delete" in str(caught.value) and not path.exists(), "nothing created"
    (tmp_path / "state.db.lock").unlink()  # what the message says to do to start afresh
    Store(path).close()


def test_a_second_store_on_one_file_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    first = Store(path)
    with pytest.raises(StateError, match=r"in use by another exporter \(pid \d+\)"):
        Store(path)
    first.close()
    Store(path).close()
