"""Starting on a state file an older exporter wrote: migrated once, in one transaction, with
nothing re-counted and nothing lost.

The files under tests/fixtures/state/ were written by the exporter code of those versions
(make-fixtures.sh runs it from git history): v010.db by 0.1.0, v1-main.db by 0.1.0 and then
the last build with schema 1, which stored new series under today's names next to 0.1.0's.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from exporter.generations import migration
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import AddIds
from exporter.generations.schema import SCHEMA_VERSION
from exporter.generations.state_file import StateError
from exporter.generations.store import Store
from exporter.metrics import (
    GENERATION_COST,
    GENERATION_IDS_ABANDONED,
    GENERATION_IDS_RECEIVED,
    GENERATION_LOOKUP_DELAY,
    GENERATION_REQUESTS,
    GENERATION_TOKENS,
    Family,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "state"
NOW = 1_800_000_000.0
P1, P2, P3, F1, N1, Q1 = (
    "gen_01JD5R" + tail.rjust(20, "0") for tail in ("P1", "P2", "P3", "F1", "N1", "Q1")
)
Z1 = "gen_ZZ" + "0" * 23 + "1"
M1, M2 = "gen_01JD5S000000000000000000M1", "gen_01JD5S000000000000000000M2"
# Series stored before the operation label existed get it as unknown: a record does not say.
CLAUDE = {"model": "anthropic/claude-sonnet-4", "provider": "bedrock", "operation": "unknown"}
REQUEST = {**CLAUDE, "finish_reason": "stop", "streamed": "true", "byok": "false"}
MIGRATED = "migrated the state file"


def copy(name: str, tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    shutil.copyfile(FIXTURES / name, path)
    return path


def started(path: Path) -> tuple[Store, SeriesMirror]:
    store, mirror = Store(path), SeriesMirror()
    store.load(mirror)
    return store, mirror


def total(mirror: SeriesMirror, family: Family, **labels: str) -> Decimal:
    (value,) = [
        v for k, v in mirror.values.items() if k.metric == family.name and dict(k.labels) == labels
    ]
    return value.total


def user_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_010_file_is_migrated_once_with_its_ids_counters_and_offsets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = copy("v010.db", tmp_path)
    assert user_version(path) == 1
    with caplog.at_level(logging.INFO):
        store, mirror = started(path)
    (record,) = [r for r in caplog.records if r.getMessage().startswith(MIGRATED)]
    with contextlib.closing(sqlite3.connect(FIXTURES / "v010.db")) as conn:
        series = conn.execute("SELECT COUNT(*) FROM series").fetchone()[0]  # all under 0.1.0 names
    counts = (record.resolved, record.pending, record.series_renamed)  # type: ignore[attr-defined]
    assert counts == (3, 4, series)
    assert user_version(path) == SCHEMA_VERSION

    # Pending IDs are still pending, with their schedule; P2 was retried once.
    assert mirror.pending == {"prod": 4}
    assert {row.id for row in store.due("prod", NOW, 10)} == {P1, P3, Z1}
    (retry,) = [row for row in store.due("prod", NOW + 60, 10) if row.id == P2]
    assert (retry.attempts, retry.source, retry.received_at) == (1, "http", NOW)
    assert store.offsets() == {"/var/log/app.log": (4242, 1234)}

    # Counters under today's names, values as 0.1.0 left them.
    assert total(mirror, GENERATION_REQUESTS, vercel_team="prod", **REQUEST) == 1
    assert total(mirror, GENERATION_COST, vercel_team="prod", **CLAUDE) == Decimal("0.00842")
    assert (
        total(mirror, GENERATION_TOKENS, vercel_team="prod", **CLAUDE, token_type="input") == 1200
    )
    assert (
        total(mirror, GENERATION_TOKENS, vercel_team="prod", **CLAUDE, token_type="cache_read")
        == 800
    )
    received = {"vercel_team": "prod", "result": "accepted"}
    assert total(mirror, GENERATION_IDS_RECEIVED, **received, intake="http") == 5
    assert total(mirror, GENERATION_IDS_RECEIVED, **received, intake="follow") == 1
    assert total(mirror, GENERATION_IDS_ABANDONED, vercel_team="qa", reason="max_age") == 1
    (delay,) = [v for k, v in mirror.values.items() if k.metric == GENERATION_LOOKUP_DELAY.name]
    assert delay.count == 1
    assert not [k for k in mirror.values if "team" in k.label_names], "no 0.1.0 label is left"

    # Resolved IDs stay resolved: found or given up by the same team are duplicates, not
    # counted again; one another team gave up on is queued (today's rule).
    ops = [AddIds("prod", "http", [F1, N1, P1, Z1], NOW), AddIds("prod", "http", [Q1], NOW)]
    results, _ = store.commit(ops, mirror, NOW)
    assert results == [(0, 4), (1, 0)]
    store.close()

    caplog.clear()
    with caplog.at_level(logging.INFO):
        again, reloaded = started(path)
    assert MIGRATED not in caplog.text, "the second start does nothing"
    assert {row.id for row in again.due("prod", NOW, 10)} == {P1, P3, Z1, Q1}
    assert total(reloaded, GENERATION_REQUESTS, vercel_team="prod", **REQUEST) == 1
    again.close()


def test_a_file_of_the_last_schema_1_build_keeps_its_attributes_and_merges_its_series(
    tmp_path: Path,
) -> None:
    """That build counted into today's names and left 0.1.0's series beside them."""
    store, mirror = started(copy("v1-main.db", tmp_path))
    assert total(mirror, GENERATION_REQUESTS, vercel_team="prod", **REQUEST) == 2
    cost = total(mirror, GENERATION_COST, vercel_team="prod", **CLAUDE)
    assert cost == Decimal("0.00842") + Decimal("0.001")
    received = {"vercel_team": "prod", "result": "accepted", "intake": "http"}
    assert total(mirror, GENERATION_IDS_RECEIVED, **received) == 5 + 2
    assert mirror.pending == {"prod": 5}
    (pending,) = [row for row in store.due("prod", NOW + 100, 10) if row.id == M2]
    assert pending.attributes == '{"feature":"search"}'
    results, _ = store.commit([AddIds("prod", "http", [M1, F1], NOW)], mirror, NOW)
    assert results == [(0, 2)]
    store.close()


def test_a_migration_that_fails_part_way_leaves_the_old_file_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = copy("v010.db", tmp_path)

    def crash(conn: sqlite3.Connection) -> int:
        raise RuntimeError("killed")

    monkeypatch.setattr(migration, "_rename_v010_series", crash)
    conn = sqlite3.connect(path, isolation_level=None)
    with contextlib.closing(conn), pytest.raises(RuntimeError, match="killed"):
        migration.migrate(conn, path, 1)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "teams" not in tables and "v1_pending" not in tables
        assert conn.execute("SELECT id FROM pending WHERE id = ?", (P1,)).fetchone() == (P1,)
    monkeypatch.undo()
    store, mirror = started(path)
    assert mirror.pending == {"prod": 4}
    store.close()


def test_an_id_with_no_compact_form_stops_the_migration_with_the_file_unchanged(
    tmp_path: Path,
) -> None:
    path = copy("v010.db", tmp_path)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO resolved VALUES ('gen_not-an-id', 'prod', 0, 'found')")
    with pytest.raises(StateError, match=r"cannot be migrated .*'gen_not-an-id'.*nothing in it"):
        Store(path)
    assert user_version(path) == 1
