"""Restart: time from process start to a 200 from ``/readyz``, on a big state and on none.

The state holds 1,000,000 resolved and 100,000 pending IDs and the series of one busy team;
each start gets a fresh copy of it (a start changes the file). The baseline is the same
command on an empty state path. ``/readyz`` turns 200 once the first credits poll of every
team has been attempted, so the time includes imports, opening and loading the state, binding
and one round trip to the (local) simulator. Median of three starts each. The goal is a
ratio: a start on a big state does what an empty start does, plus what is proportional to
reading what it must read.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from bench import goals
from bench.common import Row, log
from bench.context import Context

STARTS = 3


def time_to_ready(ctx: Context, state_path: Path, tag: str) -> float:
    proc, url = ctx.exporter_on(state_path, state_path.parent, tag)
    try:
        return proc.wait_http(f"{url}/readyz", timeout=60, interval=0.01)
    finally:
        proc.stop()


def run(ctx: Context) -> list[Row]:
    big = ctx.big_state()
    work = ctx.scratch("restart")
    ours: list[float] = []
    theirs: list[float] = []
    for index in range(STARTS):
        copy = work / f"state-{index}.db"
        shutil.copyfile(big.path, copy)
        ours.append(time_to_ready(ctx, copy, f"big-{index}"))
        theirs.append(time_to_ready(ctx, work / f"empty-{index}.db", f"empty-{index}"))
        copy.unlink()
    log(f"restart: big state {ours}, empty {theirs}")
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    return [
        Row(
            "Restart",
            f"time to ready, {big.resolved:,} resolved + {big.pending:,} pending IDs "
            f"({big.total_bytes / 1e6:.0f} MB state)",
            ours_s,
            "s",
            "same start on an empty state",
            theirs_s,
            goal=f"≤ {goals.RESTART}x",
            met=ours_s <= goals.RESTART * theirs_s,
            note=f"median of {STARTS}",
        )
    ]
