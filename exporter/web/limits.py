"""Request limits: how large a request head may be, how many intake requests run at once, and
how long a client may take to send a request.

Deadlines are what uvicorn lacks: it closes idle keep-alive connections, but a client that
connects and then sends its request a byte at a time (headers or body) keeps its connection,
and mid-body an intake slot, for as long as it likes. ``DeadlineProtocol`` gives each request
two deadlines counted from its first byte (from the accepted connection for the first
request): one for the headers and one for the whole request. When one passes the connection
gets 408 and is closed. The wait between requests on a kept-alive connection stays uvicorn's
keep-alive timeout; a TLS handshake is bounded by asyncio (60 s) before the first deadline.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import ClassVar, cast

import h11
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from exporter import routes
from exporter.web.refusals import Refusals

log = logging.getLogger(__name__)

# States in which the client is still sending the request's head or body.
_RECEIVING = (h11.IDLE, h11.SEND_BODY)
# States in which no response has been started yet, so a 408 can still be written.
_NOT_ANSWERED = (h11.IDLE, h11.SEND_RESPONSE)
# Where httptools' parser is in the current request.
_IDLE, _HEAD, _BODY = "idle", "head", "body"


@dataclass(frozen=True)
class RequestLimits:
    header_timeout: float
    read_timeout: float
    max_header_bytes: int
    write_timeout: float = 30.0


class _Deadlines:
    """The deadlines of ``DeadlineProtocol``, whichever HTTP parser feeds them.

    A response is complete for the app once it is handed to the transport; a client that
    does not read keeps it in memory (a whole exposition) and its connection open for as long
    as it likes. When the client has not taken the whole response ``write_timeout`` after it
    was handed over, the connection is aborted, which drops what is still buffered.
    """

    limits: ClassVar[RequestLimits]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    _timer: asyncio.TimerHandle | None = None
    _unread: asyncio.TimerHandle | None = None
    _started = 0.0
    _body_phase = False

    def _answerable(self) -> bool:
        """Whether no response has been started, so a 408 can still be written."""
        raise NotImplementedError

    def _response_done(self) -> None:
        if self._unread is not None:
            self._unread.cancel()  # each response gets the whole timeout, as in Go
            self._unread = None
        # A client pipelining requests without reading cannot postpone this: once the buffer
        # passes the high-water mark the next response is not written, so never completes.
        # A response the kernel took whole leaves nothing to check (the common case, which
        # then costs no timer).
        if self.transport.get_write_buffer_size():
            self._unread = self.loop.call_later(self.limits.write_timeout, self._check_unread)

    def _check_unread(self) -> None:
        self._unread = None
        # A closing transport counts too: close() waits for the buffer to drain, so uvicorn's
        # keep-alive close (5 s) would otherwise leave an unread response in memory for good.
        if not self.transport.get_write_buffer_size():
            return
        log.debug(
            "aborting a connection whose client does not read its response",
            extra={"client": self.client, "unread_bytes": self.transport.get_write_buffer_size()},
        )
        self.transport.abort()

    def _lost(self) -> None:
        if self._unread is not None:
            self._unread.cancel()
            self._unread = None
        self._cancel()

    def _start(self) -> None:
        self._started = self.loop.time()
        self._body_phase = False
        self._arm(self.limits.header_timeout)

    def _in_body(self) -> None:
        self._body_phase = True
        self._arm(self.limits.read_timeout)

    def _arm(self, after_start: float) -> None:
        self._cancel()
        self._timer = self.loop.call_at(self._started + after_start, self._expired, after_start)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, after: float) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        what = "request body" if self._body_phase else "request headers"
        log.debug("closing a slow connection", extra={"client": self.client, "waited_for": what})
        if self._answerable():
            body = f"{what} not received within {after:g}s\n".encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
            )
        self.transport.close()


class DeadlineProtocol(_Deadlines, H11Protocol):
    """uvicorn's h11 protocol with a header deadline, a whole-request deadline, and a write
    deadline (``_Deadlines``); h11's connection states say which phase a request is in."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start()

    def data_received(self, data: bytes) -> None:
        if self._timer is None and self.conn.their_state is h11.IDLE:
            self._start()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        self._progress()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._response_done()
        self._progress()  # a pipelined request may have been read meanwhile

    @property
    def receiving(self) -> bool:
        """Whether the client is still sending a request (nothing of it reached the app yet,
        or the app waits for its body): at shutdown there is nothing worth waiting for."""
        state = self.conn.their_state
        return state is h11.SEND_BODY or (state is h11.IDLE and self._timer is not None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        super().connection_lost(exc)

    def _answerable(self) -> bool:
        return self.conn.our_state in _NOT_ANSWERED

    def _progress(self) -> None:
        if self._timer is None:
            return
        state = self.conn.their_state
        if state not in _RECEIVING:
            self._cancel()  # the whole request is in (or the connection is done for)
        elif state is h11.SEND_BODY and not self._body_phase:
            self._in_body()


class HttpToolsDeadlineProtocol(_Deadlines, HttpToolsProtocol):
    """uvicorn's httptools protocol with the same deadlines, and h11's bound on a head still
    being received (uvicorn gives httptools none): past ``max_header_bytes`` without the end
    of the head, 431 and close.

    The parser's callbacks only note where a request is; the timer is set once the bytes at
    hand are parsed, so a request that arrives whole (nearly all) costs no timer at all.
    """

    _head_bytes = 0
    _phase = _IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase = _HEAD
        self._start()  # the first request's deadline counts from the accepted connection

    def data_received(self, data: bytes) -> None:
        heading = self._phase is _HEAD
        super().data_received(data)
        if self._phase is _IDLE:
            self._cancel()  # the whole request is in
        elif self._phase is _BODY:
            if not self._body_phase:
                self._in_body()
        elif self._timer is None:
            self._start()  # the first bytes of the next request on a kept-alive connection
        if heading and self._phase is _HEAD:
            self._head_bytes += len(data)  # still no end of the head
            if self._head_bytes > self.limits.max_header_bytes and self._answerable():
                self._cancel()
                self.transport.write(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n"
                    b"content-length: 0\r\n\r\n"
                )
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase is _IDLE:
            self._phase = _HEAD
            self._head_bytes = 0
            self._started = self.loop.time()
            self._body_phase = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = _BODY

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _IDLE

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._response_done()

    @property
    def receiving(self) -> bool:
        """As ``DeadlineProtocol.receiving``: a request has begun and is not all in."""
        return self._phase is not _IDLE and self._timer is not None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()
        super().connection_lost(exc)

    def _answerable(self) -> bool:
        cycle = self.cycle
        idle = cycle is None or not cycle.response_started or cycle.response_complete
        return idle and not self.pipeline


PROTOCOLS: dict[str, type[DeadlineProtocol | HttpToolsDeadlineProtocol]] = {
    "h11": DeadlineProtocol,
    "httptools": HttpToolsDeadlineProtocol,
}


def protocol_for(limits: RequestLimits, http: str = "h11") -> type[asyncio.Protocol]:
    """A protocol class for uvicorn's ``http=`` (uvicorn builds one instance per connection),
    on the ``http`` parser: ``h11`` or ``httptools``."""
    base = PROTOCOLS[http]
    return cast("type[asyncio.Protocol]", type(base.__name__, (base,), {"limits": limits}))


class IntakeLimit:
    """ASGI middleware: at most ``limit`` intake requests at once; the rest get 503 at once.

    Each intake request may hold up to ``ingest.max_body_bytes`` while its body arrives, so the
    cap bounds memory; refusing instead of queueing tells clients to back off (Retry-After)
    rather than pile up connections.
    """

    def __init__(self, app: ASGIApp, limit: int, refusals: Refusals | None = None) -> None:
        self._app = app
        self._limit = limit
        self._refusals = refusals
        self._active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in routes.INTAKE:
            await self._app(scope, receive, send)
            return
        if self._active >= self._limit:
            message = f"{self._limit} intake requests in progress; retry later"
            if self._refusals is not None:
                self._refusals.refuse(scope["path"], "busy", 503, message)
            response = JSONResponse(
                {"error": message},
                status_code=503,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self._active += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._active -= 1


class HeaderLimit:
    """ASGI middleware: 431 for a request whose line and headers exceed ``limit`` bytes.

    The protocol's own limit (the same number: ``h11_max_incomplete_event_size`` on h11,
    ``HttpToolsDeadlineProtocol``'s count on httptools) only bounds a head still being received;
    a complete oversized head that arrives in one read passes it, and is refused here before
    any other work.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = len(scope["raw_path"]) + len(scope["query_string"]) + len(scope["method"]) + 12
            size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            if size > self._limit:
                response = JSONResponse(
                    {"error": f"request line and headers larger than {self._limit} bytes"},
                    status_code=431,
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self._app(scope, receive, send)
