"""How every bare baseline app runs: on the exporter's own server stack, bound to 127.0.0.1,
until SIGTERM, with its durable store's writer (if it has one) beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bench.servers.durable import GroupCommit
from exporter.web.server import AsgiServer, bind, stop_on_signals


async def ok(request: Request) -> Response:
    return Response("ok\n")


async def serve(routes: Sequence[BaseRoute], port: int, store: GroupCommit | None) -> None:
    app = Starlette(routes=[*routes, Route("/", ok)])
    stop = asyncio.Event()
    stop_on_signals(stop)
    server = AsgiServer(app, bind(f"127.0.0.1:{port}"))
    tasks = [asyncio.create_task(server.serve())]
    if store is not None:
        tasks.append(asyncio.create_task(store.run()))
    await stop.wait()
    server.stop()
    await tasks[0]
    if store is not None:
        tasks[1].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tasks[1]
