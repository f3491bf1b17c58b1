"""The intake baseline: a Starlette app on the exporter's own uvicorn setup that reads the body
and answers 202 without any work.

    python -m bench.servers.bare_intake PORT
"""

from __future__ import annotations

import asyncio
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from exporter.web.server import AsgiServer, bind, run, stop_on_signals


async def accept(request: Request) -> Response:
    await request.body()
    return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": []}, status_code=202)


async def ok(request: Request) -> Response:
    return Response("ok\n")


async def main(port: int) -> None:
    app = Starlette(routes=[Route("/generations", accept, methods=["POST"]), Route("/", ok)])
    stop = asyncio.Event()
    stop_on_signals(stop)
    server = AsgiServer(app, bind(f"127.0.0.1:{port}"))
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.stop()
    await serving


if __name__ == "__main__":
    run(main(int(sys.argv[1])))
