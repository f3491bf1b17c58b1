"""The OTLP intake baseline: a Starlette app on the exporter's own uvicorn setup that decodes
each request with the same bindings (``ExportTraceServiceRequest.ParseFromString``), answers an
empty ``ExportTraceServiceResponse`` and stores nothing.

    python -m bench.servers.bare_otlp PORT
"""

from __future__ import annotations

import asyncio
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exporter import routes
from exporter.web.server import AsgiServer, bind, run, stop_on_signals

PROTOBUF = "application/x-protobuf"
ANSWER = ExportTraceServiceResponse().SerializeToString()


async def export(request: Request) -> Response:
    message = ExportTraceServiceRequest()
    message.ParseFromString(await request.body())
    return Response(ANSWER, media_type=PROTOBUF)


async def ok(request: Request) -> Response:
    return Response("ok\n")


async def main(port: int) -> None:
    app = Starlette(routes=[Route(routes.TRACES, export, methods=["POST"]), Route("/", ok)])
    stop = asyncio.Event()
    stop_on_signals(stop)
    server = AsgiServer(app, bind(f"127.0.0.1:{port}"))
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.stop()
    await serving


if __name__ == "__main__":
    run(main(int(sys.argv[1])))
