"""Reading a request and writing an answer on ASGI itself, for the intake endpoints.

``POST /generations`` takes one small request after another: Starlette's request and response
objects, its two middlewares, its router and the wrappers its routes put around a function
endpoint cost more CPU there than the endpoint's own checks (docs/performance.md). That
endpoint is an ASGI app reached directly (``Direct`` in exporter/web/app.py) and reads and
answers through these; ``/v1/traces`` stays a Starlette route but reads its body and query
the same way (exporter/web/otlp.py), so both refuse alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.datastructures import Headers, QueryParams
from starlette.types import Receive, Send

from exporter.generations.intake import IntakeError

# As Starlette's JSONResponse renders: compact, UTF-8, no NaN.
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
JSON_TYPE = b"application/json"


async def read_body(headers: Headers, receive: Receive, limit: int) -> bytearray:
    """The whole body in one growing buffer (no list of chunks joined into a second copy),
    refused with 413 as soon as it passes ``limit`` bytes. Uvicorn reads and drops the rest,
    so a client that sends its whole body before reading gets the answer, not a reset."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IntakeError(413, f"body larger than {limit} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # Gone, or cut off by the read deadline (exporter/web/limits.py): nobody reads
            # this answer, but it ends the request quietly instead of with a traceback.
            raise IntakeError(400, "the client left before the body was complete")
        chunk = message.get("body", b"")
        if len(body) + len(chunk) > limit:
            raise IntakeError(413, f"body larger than {limit} bytes")
        body += chunk
        if not message.get("more_body", False):
            return body


def query_param(query_string: bytes, name: str) -> str | None:
    """A query parameter, without parsing an empty query string (most intake requests)."""
    return QueryParams(query_string).get(name) if query_string else None


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Mapping[str, str] | None = None,
) -> None:
    """One whole answer: its status, type, length and ``headers``, then its body."""
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    raw += [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in (headers or {}).items()
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, content: object, headers: Mapping[str, str] | None = None
) -> None:
    await send_bytes(send, status, _JSON.encode(content).encode(), JSON_TYPE, headers)
