"""The OTLP intake baseline: a Starlette app on the exporter's own uvicorn setup that decodes
each request with the same bindings (``ExportTraceServiceRequest.ParseFromString``), reads
the generation ID from the one attribute the benchmark's spans carry it in (the gateway's
``generationId`` in ``ai.response.providerMetadata``), stores the IDs durably
(``durable.GroupCommit``) and then answers an empty ``ExportTraceServiceResponse``.

    python -m bench.servers.bare_otlp PORT STATE_PATH
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.servers.durable import GroupCommit
from bench.servers.serving import serve
from exporter import routes
from exporter.web.server import run

PROTOBUF = "application/x-protobuf"
ANSWER = ExportTraceServiceResponse().SerializeToString()
ATTRIBUTE = "ai.response.providerMetadata"


def ids_of(message: ExportTraceServiceRequest) -> list[str]:
    return [
        json.loads(attribute.value.string_value)["gateway"]["generationId"]
        for resource in message.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
        for attribute in span.attributes
        if attribute.key == ATTRIBUTE
    ]


def route(store: GroupCommit) -> Route:
    async def export(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        await store.add(ids_of(message))
        return Response(ANSWER, media_type=PROTOBUF)

    return Route(routes.TRACES, export, methods=["POST"])


if __name__ == "__main__":
    store = GroupCommit(Path(sys.argv[2]))
    run(serve([route(store)], int(sys.argv[1]), store))
