"""The whole exporter built in process on a fake clock, its state writer running and an httpx
client on its app: what the unit tests of the web side and of intake start from."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from exporter.assembly import Components, build
from exporter.clock import FakeClock
from exporter.config import load_config
from exporter.teams import resolve_teams

KEY = "vck_" + "k" * 40


def built(
    tmp_path: Path, options: Mapping[str, Any] | None = None, config_file: Path | None = None
) -> Components:
    """The exporter keyed by ``KEY`` (one team, unless ``config_file`` lists some), its state
    under ``tmp_path``; ``options`` by key, as flags give them (``{"state.dedup_retention":
    "2d"}``)."""
    given = {"state.path": str(tmp_path / "state.db"), **(options or {})}
    config = load_config(config_file, {}, given)
    return build(config, resolve_teams(config, {"AI_GATEWAY_API_KEY": KEY}), FakeClock())


@contextlib.asynccontextmanager
async def serving(exporter: Components) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the app while the state writer runs (intake waits for its commits); the
    pipeline is closed after."""
    task = asyncio.create_task(exporter.generations.writer.run())
    transport = httpx.ASGITransport(app=exporter.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await exporter.generations.close()
