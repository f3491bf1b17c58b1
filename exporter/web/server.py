"""Running ASGI apps under uvicorn inside our own asyncio loop, with our own signal handling.

Uvicorn's server normally owns SIGTERM and re-raises it after shutdown; the exporter runs
several servers and background tasks in one loop and must exit 0 after a graceful drain, so
signals are handled once, here, and turned into a stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvicorn
import uvloop
from starlette.types import ASGIApp

from exporter.web.limits import PROTOCOLS, RequestLimits, protocol_for

log = logging.getLogger(__name__)
T = TypeVar("T")


# The server stack, chosen on the intake benchmark: httptools parses HTTP in C and uvloop runs
# the event loop in C; docs/performance.md has the figures of each combination. Named here,
# never uvicorn's "auto", so every server of the project, the benchmarks' baselines too, runs
# the same stack.
HTTP = "httptools"
STACK = f"uvicorn, {HTTP}, uvloop"  # how benchmark tables name it


# Young objects the collector lets pile up before a pass (Python's default is 700). A server
# under load holds thousands of short-lived ones (each request's coroutines, futures, scopes)
# without leaking any, and at 700 it ran a pass every other request: 8 % of the exporter's CPU
# on single-ID intake, with a full pass over every object every few hundred requests.
GC_THRESHOLD = (10_000, 10, 10)


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop's event loop, with the collector set for a server: what the
    exporter and its baselines run on."""
    gc.set_threshold(*GC_THRESHOLD)
    return uvloop.run(main)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals are handled by stop_on_signals()


def split_listen_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - an exporter listens on all interfaces
    return host, int(port)


def bind(address: str) -> socket.socket:
    """Bind the listening socket up front, so a busy port fails the start with a clear error."""
    host, port = split_listen_address(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say TCP,
    # and without it a response written as headers then body waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {address}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


class AsgiServer:
    """One uvicorn server on an already-bound socket (TLS and request limits: the exporter's)."""

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        limits: RequestLimits | None = None,
    ) -> None:
        self._sock = sock
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            http=protocol_for(limits, HTTP) if limits else HTTP,
            h11_max_incomplete_event_size=limits.max_header_bytes if limits else None,
            ssl_context_factory=(lambda _config, _default: tls) if tls else None,
        )
        self._server = _Server(config)

    async def serve(self) -> None:
        await self._server.serve(sockets=[self._sock])

    def stop(self) -> None:
        """Stop accepting; close connections still sending a request (a slow client would
        otherwise hold the drain until uvicorn's graceful timeout cancels it with errors),
        and let requests the app is handling finish."""
        ours = [c for c in self._server.server_state.connections if isinstance(c, PROTOCOLS[HTTP])]
        sending = [c for c in ours if c.receiving]
        for connection in sending:
            connection.transport.close()
        if sending:
            log.info(f"closed {len(sending)} connections still sending a request")
        in_progress = len(
            [c for c in ours if c not in sending and c.cycle and not c.cycle.response_complete]
        )
        if in_progress:
            log.info(f"waiting for {in_progress} requests in progress")
        self._server.should_exit = True


def reload_on_hangup(reload: Callable[[], None]) -> None:
    """SIGHUP re-reads what can change without a restart (it would otherwise end the process
    without a drain, the default action)."""
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (a graceful drain), instead of killing the process."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
