"""Upstream sends requests straight to httpx's transport: what AsyncClient did for the clients
must still happen (the environment's proxy, a decoded body, a reused connection), checked
against a real socket."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from exporter.gateway.transport import Upstream, environment_proxy

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own proxy settings stay out of these tests."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class Server:
    """Answers every request on a kept-alive connection with one body; notes the request
    lines and how many connections were opened."""

    def __init__(self, body: bytes, *headers: str) -> None:
        self.body = body
        self.headers = "".join(f"{header}\r\n" for header in headers)
        self.lines: list[str] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{self.headers}"
                    f"Content-Length: {len(self.body)}\r\n\r\n".encode()
                    + self.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def count_server() -> AsyncIterator[tuple[Server, str]]:
    server = Server(gzip.compress(b'{"count": 7}'), "Content-Encoding: gzip")
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        listening.close()
        await listening.wait_closed()


@pytest.mark.parametrize(
    ("variables", "url", "proxy"),
    [
        ({}, "https://ai-gateway.vercel.sh", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://ai-gateway.vercel.sh", "http://proxy:3128"),
        ({"https_proxy": "http://proxy:3128"}, "https://ai-gateway.vercel.sh", "http://proxy:3128"),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "http://gateway.internal", None),
        ({"ALL_PROXY": "http://all:1080"}, "http://gateway.internal", "http://all:1080"),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "vercel.sh"},
            "https://ai-gateway.vercel.sh",
            None,
        ),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "example.com"},
            "https://ai-gateway.vercel.sh",
            "http://proxy:3128",
        ),
    ],
)
def test_the_proxy_is_the_one_the_environment_names_for_the_url(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], url: str, proxy: str | None
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert environment_proxy(httpx.URL(url)) == proxy


async def test_requests_go_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch, count_server: tuple[Server, str]
) -> None:
    server, proxy = count_server
    monkeypatch.setenv("HTTP_PROXY", proxy)
    upstream = Upstream("http://gateway.invalid/base", {}, timeout=5.0)
    try:
        request = upstream.request("/v1/generation", {"id": "gen_1"}, upstream.headers)
        assert (await upstream.send(request)).json() == {"count": 7}
    finally:
        await upstream.aclose()
    assert server.lines == ["GET http://gateway.invalid/base/v1/generation?id=gen_1 HTTP/1.1"]


async def test_an_answer_is_decoded_and_its_connection_kept_for_the_next(
    count_server: tuple[Server, str],
) -> None:
    server, url = count_server
    upstream = Upstream(url, {"Accept": "application/json"}, timeout=5.0)
    try:
        for _ in range(3):
            response = await upstream.send(upstream.request("/v1/counts", None, upstream.headers))
            assert response.json() == {"count": 7}
    finally:
        await upstream.aclose()
    assert server.lines == ["GET /v1/counts HTTP/1.1"] * 3
    assert server.connections == 1
