"""The durable baselines' store: each request's IDs inserted into SQLite with the exporter's
durability settings (WAL, ``synchronous = FULL``), by one writer that commits whatever has
queued up meanwhile in one transaction (group commit, as the exporter's state writer does),
and a request answered only once its IDs are committed.

It keeps one column where the exporter keeps a pending row (team, path, due time, attempts,
attribution), and counts nothing: the least a durable intake can do.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from exporter.generations import idcodec


class GroupCommit:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS ids (id BLOB PRIMARY KEY) WITHOUT ROWID")
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[None]]] = asyncio.Queue()

    async def add(self, ids: list[str]) -> None:
        """Return once ``ids`` are committed."""
        done = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((ids, done))
        await done

    async def run(self) -> None:
        """Commit what has queued, in one transaction at a time, until cancelled."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await asyncio.to_thread(self._commit, [i for ids, _ in batch for i in ids])
            for _, done in batch:
                done.set_result(None)

    def _commit(self, ids: list[str]) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany(
            "INSERT OR IGNORE INTO ids VALUES (?)", [(idcodec.encode(i),) for i in ids]
        )
        self._conn.execute("COMMIT")
