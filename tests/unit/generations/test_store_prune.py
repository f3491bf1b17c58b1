"""Pruning the resolved IDs: never early, never a pending ID, the same through every chunk.

An ID is counted at most once because a resend finds it pending or resolved; prune is the only
thing that forgets one, so what it keeps decides what is a duplicate.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.generations import store as store_module
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import AddIds, Operation, Resolve
from exporter.generations.store import Store

NOW = 1_800_000_000.0
IDS = [f"gen_01JD6{n:021d}" for n in range(10)]


def commit(store: Store, *ops: Operation, now: float = NOW) -> list[object]:
    results, _ = store.commit(list(ops), SeriesMirror(), now)
    return results


def test_prune_through_chunks_forgets_the_old_then_the_oldest_beyond_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PRUNE_CHUNK", 3)
    store = Store(tmp_path / "state.db")
    # Resolved 90, 80, … 0 s before NOW, in an order unrelated to the ID order.
    age = {gen_id: 10 * ((n * 7) % 10) for n, gen_id in enumerate(IDS)}
    commit(store, AddIds("prod", "http", IDS, NOW - 100))
    for row in store.due("prod", NOW, 100):
        commit(store, Resolve(row, "found"), now=NOW - age[row.id])
    assert store.prune(before=NOW - 45, max_rows=1000) == 5  # 90, 80, 70, 60 and 50 s old
    assert store.prune(before=NOW - 45, max_rows=3) == 2  # then the two oldest of five
    kept = {gen_id for gen_id in IDS if age[gen_id] < 30}
    results = commit(store, AddIds("prod", "http", IDS, NOW))
    assert results == [(len(IDS) - len(kept), len(kept))], "only what was kept is a duplicate"
    store.close()


def test_a_resolved_id_is_never_forgotten_before_its_time(tmp_path: Path) -> None:
    """Times are stored in whole seconds, rounded up: a prune at the very instant the ID was
    resolved keeps it, as it did when times were stored exactly."""
    store = Store(tmp_path / "state.db")
    commit(store, AddIds("prod", "http", IDS[:1], NOW))
    (row,) = store.due("prod", NOW, 10)
    commit(store, Resolve(row, "found"), now=NOW + 0.4)
    assert store.prune(before=NOW + 0.4, max_rows=1000) == 0
    assert commit(store, AddIds("prod", "http", IDS[:1], NOW)) == [(0, 1)]
    assert store.prune(before=NOW + 1.5, max_rows=1000) == 1
    store.close()


def test_pending_ids_are_never_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    commit(store, AddIds("prod", "http", IDS, NOW))
    assert store.prune(before=NOW + 365 * 86400, max_rows=1000) == 0
    assert commit(store, AddIds("prod", "http", IDS, NOW)) == [(0, len(IDS))]
    assert len(store.due("prod", NOW, 100)) == len(IDS)
    store.close()
