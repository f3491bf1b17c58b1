"""The SQLite state: dedupe, exactly-once resolution, restore after restart, refusals."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exporter.clock import FakeClock
from exporter.gateway.models import Generation
from exporter.generations.lookups import REANCHOR_HORIZON
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import AddIds, Operation, PendingRow, Reschedule, Resolve
from exporter.generations.series import SeriesKey
from exporter.generations.store import Store, StoreUnavailable
from exporter.generations.writer import StateWriter
from exporter.metrics import (
    GENERATION_COST,
    GENERATION_IDS_ABANDONED,
    GENERATION_IDS_RECEIVED,
    GENERATION_LOOKUPS,
    GENERATION_REQUESTS,
)

IDS = [f"gen_01ARZ3NDEKTSV4RRFFQ69G5FA{c}" for c in "0123456789"]


async def commit(writer: StateWriter, op: Operation) -> Any:
    """Run the writer just long enough to commit ``op``."""
    task = asyncio.create_task(writer.run())
    try:
        return await writer.submit(op)
    finally:
        task.cancel()


def observer() -> Observer:
    return Observer(LabelLimiter(2), LabelLimiter(2), LabelLimiter(2))


def value(mirror: SeriesMirror, metric: str, **labels: str) -> Decimal:
    for key, series in mirror.values.items():
        if key.metric == metric and dict(key.labels) == labels:
            return series.total
    return Decimal(0)


async def test_ids_are_stored_once_and_duplicates_counted(tmp_path: Path) -> None:
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, FakeClock())
    assert await commit(writer, AddIds("prod", "http", IDS[:3] + IDS[:1], 0.0, 2)) == (3, 1)
    assert await commit(writer, AddIds("prod", "http", IDS[:5], 0.0)) == (2, 3)
    assert mirror.pending == {"prod": 5}
    received = GENERATION_IDS_RECEIVED.name
    assert value(mirror, received, vercel_team="prod", intake="http", result="accepted") == 5
    assert value(mirror, received, vercel_team="prod", intake="http", result="duplicate") == 4
    assert value(mirror, received, vercel_team="prod", intake="http", result="rejected") == 2


async def test_an_id_another_team_gave_up_on_is_queued_again_once(tmp_path: Path) -> None:
    """Sent under the wrong team first, an ID is still counted when sent for the right one;
    what was found, or what a team gave up on itself, stays a duplicate."""
    clock = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    await commit(writer, AddIds("qa", "http", IDS[:2], 0.0))
    assert await commit(writer, AddIds("prod", "http", IDS[:1], 0.0)) == (0, 1), "pending"
    wrong, right = store.due("qa", clock.time(), 10)
    await commit(writer, Resolve(wrong, "pending", abandoned="not_found"))
    await commit(writer, Resolve(right, "found"))
    assert await commit(writer, AddIds("qa", "http", IDS[:1], 0.0)) == (0, 1), "qa gave up"
    assert await commit(writer, AddIds("prod", "http", IDS[:2], 0.0)) == (1, 1)
    assert [row.id for row in store.due("prod", clock.time(), 10)] == [wrong.id]
    assert await commit(writer, AddIds("prod", "http", IDS[:1], 0.0)) == (0, 1), "queued once"
    assert mirror.pending == {"qa": 0, "prod": 1}


async def test_resolution_is_exactly_once_and_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    await commit(writer, AddIds("prod", "http", IDS[:2], 0.0))
    rows = store.due("prod", clock.time(), 10)
    gen = Generation(id=rows[0].id, total_cost=Decimal("0.00842"), model="m", provider_name="p")
    resolve = Resolve(rows[0], "found", observer().deltas("prod", gen))
    await commit(writer, resolve)
    await commit(writer, resolve)  # a second time: no effect
    await commit(writer, Reschedule(rows[1], "pending", clock.time() + 60))
    await commit(writer, AddIds("prod", "http", [rows[0].id], 0.0))
    cost = SeriesKey(
        GENERATION_COST.name,
        (("vercel_team", "prod"), ("model", "m"), ("provider", "p"), ("operation", "unknown")),
    )
    assert mirror.values[cost].count == 1 and mirror.values[cost].total == Decimal("0.00842")
    assert mirror.pending == {"prod": 1}
    assert value(mirror, GENERATION_LOOKUPS.name, vercel_team="prod", outcome="found") == 1
    assert value(mirror, GENERATION_LOOKUPS.name, vercel_team="prod", outcome="pending") == 1
    store.close()

    restored = SeriesMirror()
    Store(tmp_path / "s.db").load(restored)
    assert restored.values == mirror.values
    assert restored.pending == {"prod": 1}
    assert Store(tmp_path / "s.db").due("prod", clock.time(), 10) == []  # rescheduled later


async def test_prune_forgets_old_and_excess_resolved_ids(tmp_path: Path) -> None:
    clock = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    await commit(writer, AddIds("prod", "http", IDS, 0.0))
    for row in store.due("prod", clock.time(), 20):
        await commit(writer, Resolve(row, "pending", abandoned="not_found"))
        clock.advance(10)
    # Resolved at +0 … +90 s, now +100 s: six are older than 45 s, then one more over 3 rows.
    assert store.prune(before=clock.time() - 45, max_rows=3) == 7
    # Pruned IDs are new again; the three remembered ones are still duplicates.
    assert await commit(writer, AddIds("prod", "http", IDS, 0.0)) == (7, 3)


def test_observer_counts_skipped_fields_and_bounds_labels() -> None:
    obs = observer()
    gen = Generation(
        id=IDS[0], model="a", provider_name="p", streamed=True, invalid_fields=("latency",)
    )
    deltas = obs.deltas("prod", gen)
    skipped = {
        (dict(d.labels)["field"], dict(d.labels)["reason"])
        for d in deltas
        if d.metric.name.endswith("skipped_total")
    }
    assert ("latency", "invalid") in skipped and ("total_cost", "missing") in skipped
    for model in ("b", "c", "d"):
        obs.deltas("prod", Generation(id=IDS[1], model=model, provider_name="p"))
    labels = [
        dict(d.labels)
        for d in obs.deltas("prod", Generation(id=IDS[2], model="e"))
        if d.metric is GENERATION_REQUESTS
    ]
    assert labels[0]["model"] == "other" and labels[0]["provider"] == "unknown"


@pytest.mark.parametrize("reason", ["not_found", "forbidden"])
async def test_an_id_two_teams_send_at_once_passes_to_the_other_when_one_gives_up(
    tmp_path: Path, reason: str
) -> None:
    """Before: the second team's send was a duplicate of the pending one, the first team's key
    could not see the generation and gave it up, and nobody ever counted it."""
    clock = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    assert await commit(writer, AddIds("qa", "http", IDS[:1], 0.0)) == (1, 0)
    assert await commit(writer, AddIds("prod", "otlp", IDS[:1], 0.0, attributes="a")) == (0, 1)
    (mine,) = store.due("qa", clock.steady(), 10)
    await commit(writer, Resolve(mine, "rejected", abandoned=reason))
    assert mirror.pending == {"qa": 0, "prod": 1}, "handed on, not given up"
    assert value(mirror, GENERATION_IDS_ABANDONED.name, vercel_team="qa", reason=reason) == 0
    (theirs,) = store.due("prod", clock.steady() + 1, 10)
    assert (theirs.id, theirs.source, theirs.attributes) == (IDS[0], "otlp", "a")
    gen = Generation(id=IDS[0], total_cost=Decimal("0.5"), model="m", provider_name="p")
    await commit(writer, Resolve(theirs, "found", observer().deltas("prod", gen)))
    assert mirror.pending == {"qa": 0, "prod": 0}
    assert value(mirror, GENERATION_LOOKUPS.name, vercel_team="prod", outcome="found") == 1
    for team in ("qa", "prod"):  # found once: a duplicate for everyone from now on
        assert await commit(writer, AddIds(team, "http", IDS[:1], 0.0)) == (0, 1)


async def test_a_claim_ends_with_the_id_found_by_the_first_team(tmp_path: Path) -> None:
    clock = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, clock)
    await commit(writer, AddIds("qa", "http", IDS[:1], 0.0))
    await commit(writer, AddIds("prod", "http", IDS[:1], 0.0))
    (mine,) = store.due("qa", clock.steady(), 10)
    await commit(writer, Resolve(mine, "found"))
    await commit(writer, AddIds("qa", "http", IDS[1:2], 0.0))
    (other,) = store.due("qa", clock.steady(), 10)
    await commit(writer, Resolve(other, "pending", abandoned="not_found"))
    assert mirror.pending == {"qa": 0, "prod": 0}, "the claim went with the found ID"


@pytest.mark.parametrize("how", ["removed", "replaced"])
async def test_a_state_file_removed_or_replaced_while_running_acknowledges_nothing_more(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: intake kept answering 202 onto an unlinked file, nothing was logged, and the
    next start began empty with every acknowledged ID lost."""
    path = tmp_path / "s.db"
    store, mirror = Store(path), SeriesMirror()
    writer = StateWriter(store, mirror, FakeClock())
    assert await commit(writer, AddIds("prod", "http", IDS[:1], 0.0)) == (1, 0)
    path.rename(tmp_path / "moved.db")
    if how == "replaced":
        path.write_bytes((tmp_path / "moved.db").read_bytes())
    with caplog.at_level(logging.ERROR):
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match=f"{how} while the exporter ran|removed or"):
                await commit(writer, AddIds("prod", "http", IDS[1:2], 0.0))
    assert len([r for r in caplog.records if "removed or replaced" in r.getMessage()]) == 1
    assert mirror.pending == {"prod": 1}, "nothing more was taken"


async def test_schedules_survive_a_clock_set_back_across_a_restart(tmp_path: Path) -> None:
    """Times are kept on steady time, anchored to the wall clock at each start: with the clock
    set back an hour across a restart, every schedule lay an hour ahead (0 of 20 looked up)."""
    before = FakeClock()
    store, mirror = Store(tmp_path / "s.db"), SeriesMirror()
    writer = StateWriter(store, mirror, before)
    await commit(writer, AddIds("prod", "http", IDS, before.steady() + 5))
    store.close()
    after = FakeClock(start=before.time() - 3600)
    restarted = Store(tmp_path / "s.db")
    assert restarted.due("prod", after.steady() + 5, 100) == [], "an hour ahead, as written"
    assert restarted.reanchor(after.steady(), REANCHOR_HORIZON) == len(IDS)
    due = restarted.due("prod", after.steady(), 100)
    assert len(due) == len(IDS)
    assert all(row.received_at <= after.steady() for row in due), "no arrival in the future"
    assert restarted.reanchor(after.steady(), REANCHOR_HORIZON) == 0, "once"


async def test_intake_requests_committed_together_count_as_if_committed_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of intake requests is applied in one pass (one resolved query for all of them):
    repeats within a request and across requests, another team's pending ID, and an ID another
    team gave up on must come out as they do one commit at a time."""
    clock = FakeClock()

    def ops() -> list[Operation]:
        return [
            AddIds("prod", "http", [IDS[0], IDS[1], IDS[0]], 0.0),
            AddIds("prod", "otlp", [IDS[1], IDS[2]], 0.0, attributes="a"),
            AddIds("qa", "http", [IDS[2]], 0.0),  # pending under prod: claimed
            AddIds("prod", "http", [IDS[5]], 0.0),  # qa gave it up: queued again
            AddIds("qa", "http", [IDS[5], IDS[6]], 0.0, rejected=1),
            Reschedule(PendingRow(IDS[9], "qa", "http", 0.0, 0.0, 0), "pending", 60.0),
            AddIds("prod", "http", [IDS[3], IDS[6]], 0.0),
        ]

    async def run(path: Path, together: bool) -> tuple[list[Any], SeriesMirror, Store]:
        store, mirror = Store(path), SeriesMirror()
        writer = StateWriter(store, mirror, clock)
        await commit(writer, AddIds("qa", "http", [IDS[5], IDS[9]], 0.0))
        (given_up,) = [row for row in store.due("qa", clock.steady(), 10) if row.id == IDS[5]]
        await commit(writer, Resolve(given_up, "pending", abandoned="not_found"))
        if not together:
            return [await commit(writer, op) for op in ops()], mirror, store
        commits: list[object] = []

        def counted(batch: Any, *args: Any) -> Any:
            commits.append(batch)
            return Store.commit(store, batch, *args)

        monkeypatch.setattr(store, "commit", counted)
        pending = [asyncio.ensure_future(writer.submit(op)) for op in ops()]
        results = await commit(writer, AddIds("prod", "http", [], 0.0))
        assert len(commits) == 1 and results == (0, 0)
        return [await op for op in pending], mirror, store

    alone, alone_mirror, alone_store = await run(tmp_path / "alone.db", together=False)
    together, together_mirror, together_store = await run(tmp_path / "together.db", together=True)
    assert alone == [(2, 1), (1, 1), (0, 1), (1, 0), (1, 1), None, (1, 1)]
    assert together == alone
    totals = [{k: v.total for k, v in m.values.items()} for m in (alone_mirror, together_mirror)]
    assert totals[0] == totals[1]  # (a counter's count of increments is not published)
    assert together_mirror.pending_paths == alone_mirror.pending_paths
    for team in ("prod", "qa"):
        assert together_store.due(team, 100.0, 20) == alone_store.due(team, 100.0, 20)
    claims = "SELECT id, team, source FROM claims ORDER BY id, team"
    assert (
        together_store._conn.execute(claims).fetchall()
        == alone_store._conn.execute(claims).fetchall()
    )
