"""The intake endpoints' ASGI pieces: reading a body, answering, and the dispatch that sends
a busy route's requests past Starlette's layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from exporter.generations.intake import IntakeError
from exporter.web.app import Direct
from exporter.web.asgi import query_param, read_body, send_json


def receiving(messages: Sequence[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0)

    return receive


def chunk(body: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_body_in_chunks_is_read_whole() -> None:
    receive = receiving([chunk(b'{"id": ', more=True), chunk(b"1", more=True), chunk(b"}")])
    assert await read_body(Headers(), receive, 100) == bytearray(b'{"id": 1}')


async def test_a_body_past_the_limit_is_refused_by_its_length_or_as_it_arrives() -> None:
    declared = Headers({"content-length": "101"})
    with pytest.raises(IntakeError, match="larger than 100 bytes") as refused:
        await read_body(declared, receiving([]), 100)  # nothing read: the header says it
    assert refused.value.status == 413
    chunks = [chunk(b"x" * 60, more=True), chunk(b"x" * 41)]
    with pytest.raises(IntakeError, match="larger than 100 bytes"):
        await read_body(Headers(), receiving(chunks), 100)
    assert await read_body(Headers(), receiving([chunk(b"x" * 100)]), 100) == b"x" * 100


async def test_a_client_that_leaves_mid_body_ends_the_request_with_a_400() -> None:
    receive = receiving([chunk(b"half", more=True), {"type": "http.disconnect"}])
    with pytest.raises(IntakeError, match="left before the body was complete") as left:
        await read_body(Headers(), receive, 100)
    assert left.value.status == 400


def test_query_parameters_are_read_only_when_there_is_a_query() -> None:
    assert query_param(b"", "team") is None
    assert query_param(b"team=a%20b&x=1", "team") == "a b"
    assert query_param(b"x=1", "team") is None


async def test_a_json_answer_is_written_as_starlette_writes_one() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    content = {"error": "naïve", "n": [1, 2]}
    await send_json(send, 400, content, {"Retry-After": "1"})
    start, whole = sent
    assert start["status"] == 400
    assert whole == {"type": "http.response.body", "body": JSONResponse(content).body}
    assert whole["body"] == '{"error":"naïve","n":[1,2]}'.encode()
    assert dict(start["headers"]) == {
        b"content-type": b"application/json",
        b"content-length": str(len(whole["body"])).encode(),
        b"retry-after": b"1",
    }


# --- Direct ------------------------------------------------------------------------------


class Endpoint:
    """An ASGI endpoint that answers with its name and remembers the scopes it got."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        await PlainTextResponse("direct")(scope, receive, send)


def routed(endpoint: Endpoint) -> Any:
    async def through_starlette(request: Request) -> Response:
        return PlainTextResponse(f"starlette {request.method}")

    app = Starlette(
        routes=[
            Route("/busy", through_starlette, methods=["POST"]),
            Route("/other", through_starlette, methods=["GET", "POST"]),
        ]
    )
    return Direct(app, {("/busy", "POST"): endpoint})


async def test_direct_sends_only_its_path_and_method_to_the_endpoint() -> None:
    endpoint = Endpoint()
    transport = httpx.ASGITransport(app=routed(endpoint))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post("/busy")).text == "direct"
        assert (await client.post("/other")).text == "starlette POST"
        wrong = await client.get("/busy")  # Starlette's route answers the other methods
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"
        assert (await client.post("/busy/")).status_code in (307, 404)  # not the busy path
    assert [scope["path"] for scope in endpoint.scopes] == ["/busy"]


async def test_direct_passes_other_scope_types_to_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    direct = Direct(app, {("/busy", "POST"): Endpoint()})
    await direct({"type": "lifespan"}, receiving([]), send)
    assert seen == ["lifespan"]
