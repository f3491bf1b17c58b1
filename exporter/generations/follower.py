"""Follows log files and picks generation IDs out of appended lines: no application change.

It survives rotation (the old file is read to its end before the new one is opened) and
truncation (reading restarts at 0), and its offset is committed in the same transaction as
the IDs it read, so a restart neither skips nor re-reads a line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path
from typing import BinaryIO

from exporter.clock import Clock
from exporter.gateway.models import ANY_CASE_ID_PATTERN, canonical_generation_id
from exporter.generations.intake import Intake, IntakeError
from exporter.generations.store import StoreUnavailable

log = logging.getLogger(__name__)

# An ID anywhere in a line, but not inside a longer word.
ID_IN_TEXT = re.compile(rf"(?<![0-9A-Za-z_]){ANY_CASE_ID_PATTERN}(?![0-9A-Za-z_])".encode())
CHUNK = 1 << 20
POLL = 0.5


def ids_in(data: bytes) -> list[str]:
    """Every ID in ``data``, in its canonical (upper-case) form."""
    return [i for m in ID_IN_TEXT.findall(data) if (i := canonical_generation_id(m.decode()))]


class LogFollower:
    """Tails one file for one team until cancelled."""

    def __init__(
        self, path: Path, team: str, intake: Intake, clock: Clock, saved: tuple[int, int] | None
    ) -> None:
        self.path = path
        self.team = team
        self._intake = intake
        self._clock = clock
        self._inode, self._offset = saved if saved else (-1, 0)
        self._file: BinaryIO | None = None

    async def run(self) -> None:
        try:
            while True:
                if not await self._step():
                    await self._clock.sleep(POLL)
        finally:
            if self._file is not None:
                self._file.close()

    async def _step(self) -> bool:
        """Read what is new; True if anything was consumed."""
        try:
            stat = await asyncio.to_thread(os.stat, self.path)
        except FileNotFoundError:
            stat = None
        if self._file is not None and (stat is None or stat.st_ino != self._inode):
            if await self._consume():  # rotated away: finish the old file first
                return True
            self._file.close()
            self._file = None
        if stat is None:
            return False
        if self._file is None:
            self._file = await asyncio.to_thread(self.path.open, "rb")
            if stat.st_ino != self._inode:
                self._inode, self._offset = stat.st_ino, 0
                await self._commit([], self._offset)
        elif stat.st_size < self._offset:
            log.info("log file truncated; reading from the start", extra={"path": str(self.path)})
            self._offset = 0
        return await self._consume()

    async def _consume(self) -> bool:
        assert self._file is not None
        data = await asyncio.to_thread(self._read, self._file, self._offset)
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) == CHUNK:
            end = len(data)  # one huge line: take it rather than stall
        if end == 0:
            return False
        if await self._commit(ids_in(data[:end]), self._offset + end):
            self._offset += end
            return True
        return False

    @staticmethod
    def _read(file: BinaryIO, offset: int) -> bytes:
        file.seek(offset)
        return file.read(CHUNK)

    async def _commit(self, ids: list[str], offset: int) -> bool:
        try:
            await self._intake.accept(
                self.team, ids, "follow", offset=(str(self.path), self._inode, offset)
            )
        except (IntakeError, StoreUnavailable) as exc:
            log.warning("log follower paused", extra={"path": str(self.path), "error": str(exc)})
            await self._clock.sleep(5)
            return False
        return True
