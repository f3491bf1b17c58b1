"""Request limits in process: the intake cap, the header limit, and the read deadlines of the
h11 and httptools protocols driven through a fake transport (no socket, no server)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.server import ServerState

from exporter import routes
from exporter.web.limits import PROTOCOLS, HeaderLimit, IntakeLimit, RequestLimits, protocol_for


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_intake_beyond_the_cap_gets_503_at_once_and_other_paths_are_not_counted() -> None:
    release = asyncio.Event()

    async def slow_intake(request: Request) -> Response:
        await release.wait()
        return PlainTextResponse("stored", status_code=202)

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route(routes.GENERATIONS, slow_intake, methods=["POST"]), Route("/metrics", ok)]
    )
    app.add_middleware(IntakeLimit, limit=2)
    async with client_for(app) as client:
        held = [asyncio.create_task(client.post(routes.GENERATIONS)) for _ in range(2)]
        await asyncio.sleep(0.05)
        refused = await client.post(routes.GENERATIONS)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "2 intake requests in progress" in refused.json()["error"]
        assert (await client.get("/metrics")).status_code == 200, "scrapes are not capped"
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [202, 202]
        assert (await client.post(routes.GENERATIONS)).status_code == 202, "slots are freed"


async def test_a_head_over_the_limit_gets_431_and_one_under_it_passes() -> None:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = HeaderLimit(Starlette(routes=[Route("/metrics", ok)]), limit=2048)
    async with client_for(app) as client:
        assert (await client.get("/metrics", headers={"X-Pad": "x" * 1500})).status_code == 200
        refused = await client.get("/metrics", headers={"X-Pad": "x" * 2100})
        assert refused.status_code == 431
        assert refused.headers["connection"] == "close"


class FakeTransport(asyncio.Transport):
    """What the protocol writes and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.unread = 0  # bytes the client has not taken yet

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def get_write_buffer_size(self) -> int:
        return self.unread

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addresses = {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 9853)}
        return addresses.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def answer_ok(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


LIMITS = RequestLimits(
    header_timeout=0.1, read_timeout=0.3, max_header_bytes=4096, write_timeout=0.2
)


@pytest.fixture(params=sorted(PROTOCOLS))
def http(request: pytest.FixtureRequest) -> str:
    """Every test below runs on both HTTP parsers uvicorn offers."""
    return str(request.param)


def connect(http: str) -> tuple[asyncio.Protocol, FakeTransport]:
    config = Config(
        answer_ok,
        lifespan="off",
        log_config=None,
        access_log=False,
        h11_max_incomplete_event_size=LIMITS.max_header_bytes,  # as AsgiServer sets it
    )
    config.load()
    protocol = protocol_for(LIMITS, http)(config, ServerState(), {})  # type: ignore[call-arg]
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


@pytest.mark.parametrize(
    ("sent", "waited_for", "after"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n", "request headers", 0.1),
        (
            b"POST /generations HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
            "request body",
            0.3,
        ),
    ],
    ids=["headers", "body"],
)
async def test_a_request_that_trickles_in_gets_408_and_is_closed(
    sent: bytes, waited_for: str, after: float, http: str
) -> None:
    protocol, transport = connect(http)
    protocol.data_received(sent)
    await asyncio.sleep(after / 2)
    assert not transport.closed, "still within the deadline"
    await asyncio.sleep(after / 2 + 0.1)
    assert transport.closed
    assert transport.written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert transport.written.endswith(f"{waited_for} not received within {after:g}s\n".encode())


async def test_a_complete_request_is_answered_and_its_deadline_cancelled(http: str) -> None:
    protocol, transport = connect(http)
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.2)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert not transport.closed, "kept alive; the wait for the next request is uvicorn's"
    protocol.connection_lost(None)


async def test_a_client_that_does_not_read_its_response_is_cut_off(http: str) -> None:
    """What it has not read (a whole exposition, for a scrape) is dropped with the connection."""
    protocol, transport = connect(http)
    transport.unread = 40_000_000
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.1)
    assert transport.written.startswith(b"HTTP/1.1 200 OK\r\n") and not transport.closed
    await asyncio.sleep(0.25)
    assert transport.aborted, "aborted, so the unread bytes are freed at once"


async def test_a_client_that_does_not_read_is_cut_off_after_the_keep_alive_close_too(
    http: str,
) -> None:
    """uvicorn closes an idle kept-alive connection after 5 s, long before the 30 s write
    deadline; a close waits for the buffer to drain, which a client that never reads never
    lets happen, so 20 such clients held 540 MB. The deadline aborts a closing connection too."""
    protocol, transport = connect(http)
    transport.unread = 40_000_000
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.05)
    transport.close()  # uvicorn's keep-alive timeout: the bytes stay buffered
    assert not transport.aborted
    await asyncio.sleep(0.3)
    assert transport.aborted, "the write deadline fired although the connection was closing"


async def test_a_client_that_reads_keeps_its_connection(http: str) -> None:
    protocol, transport = connect(http)
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.4)
    assert not transport.closed
    protocol.connection_lost(None)


async def test_a_head_that_grows_past_the_limit_unfinished_gets_431_and_is_closed(
    http: str,
) -> None:
    """The bound h11 puts on a head still being received holds on httptools too; a head
    that arrives whole is HeaderLimit's (above)."""
    protocol, transport = connect(http)
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    for _ in range(LIMITS.max_header_bytes // 1000 + 1):
        assert not transport.closed, "under the limit so far"
        protocol.data_received(b"X-Pad: " + b"x" * 1000 + b"\r\n")
    assert transport.closed
    status = b"HTTP/1.1 431 " if http == "httptools" else b"HTTP/1.1 400 "
    assert transport.written.startswith(status)


async def test_a_kept_alive_connection_gets_a_new_header_deadline_per_request(http: str) -> None:
    protocol, transport = connect(http)
    protocol.data_received(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.15)  # answered; the first deadline would have passed by now
    protocol.data_received(b"GET /metrics HTTP/1.1\r\n")
    await asyncio.sleep(0.05)
    assert not transport.closed, "the second request's deadline counts from its first byte"
    await asyncio.sleep(0.15)
    assert transport.closed
    assert transport.written.count(b"HTTP/1.1 200 OK") == 1
    assert b"HTTP/1.1 408 Request Timeout" in transport.written
