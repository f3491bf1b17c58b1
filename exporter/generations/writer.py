"""The single writer: operations wait in a queue, and whatever is waiting is committed in one
transaction (a burst of intake requests costs one fsync). Only then does the in-memory mirror
move and do the waiters get their results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.clock import Clock
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import Operation, Transaction
from exporter.generations.store import Store, StoreUnavailable

# Logged under the name it had inside store.py, so filters on its lines keep matching.
log = logging.getLogger("exporter.generations.store")

MAX_BATCH = 512


@dataclass
class _Queued:
    op: Operation
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class StateWriter:
    """The single writer: batches waiting operations into one transaction each."""

    def __init__(
        self,
        store: Store,
        mirror: SeriesMirror,
        clock: Clock,
        on_commit: Mapping[str, asyncio.Event] | None = None,
    ) -> None:
        self._store = store
        self._mirror = mirror
        self._clock = clock
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._wake = on_commit or {}

    async def submit(self, op: Operation) -> Any:
        return await self.enqueue(op)

    def enqueue(self, op: Operation) -> asyncio.Future[Any]:
        """Queue ``op`` for the next commit now (no await: it cannot be cancelled before it is
        queued); the future holds its result once committed."""
        item = _Queued(op)
        self._queue.put_nowait(item)
        return item.future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._flush(batch)

    async def drain(self) -> None:
        """Commit whatever is queued (used at shutdown)."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._flush(batch)

    async def _flush(self, batch: list[_Queued]) -> None:
        try:
            results, tx = await asyncio.to_thread(
                self._store.commit,
                [q.op for q in batch],
                self._mirror,
                self._clock.steady(),
                self._clock.time(),
            )
        except Exception as exc:  # a failed batch must never stall its waiters
            if isinstance(exc, StoreUnavailable):
                log.error("state write failed", extra={"error": str(exc)})
            else:
                log.exception("state write failed unexpectedly")
                exc = StoreUnavailable(f"state store {self._store.path}: internal error")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        self._publish(tx)
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)

    def _publish(self, tx: Transaction) -> None:
        """Move the in-memory mirror to what was just committed."""
        mirror = self._mirror
        # Exemplars first: a scrape that sees a new value sees its exemplar, and the rendering
        # kept for that value (exporter/exposition.py) is complete.
        mirror.exemplars.update(tx.exemplars)
        mirror.values.update(tx.changes)
        for (team, path), change in tx.pending_delta.items():
            mirror.queue_changed(team, path, change)
            if change > 0 and team in self._wake:
                self._wake[team].set()
