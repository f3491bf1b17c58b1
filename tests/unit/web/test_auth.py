"""The password check and its cache, and basic auth and the ingest token in front of a tiny
app, in process."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

import bcrypt
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from exporter.clock import FakeClock
from exporter.web.app import Access, protect
from exporter.web.auth import BasicAuth, PasswordCheck, basic_credentials
from exporter.web.config_file import WebAccess

PASSWORD = "s3cret"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


# --- the password check


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every password bcrypt was asked to check."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    return calls


async def test_right_and_wrong_passwords(bcrypt_calls: list[bytes]) -> None:
    check = PasswordCheck({"alice": HASH.encode()})
    assert await check.verify("alice", PASSWORD)
    assert not await check.verify("alice", "wrong")
    assert not await check.verify("nobody", PASSWORD)
    assert not await check.verify("alice", PASSWORD + "x" * 72)
    # The unknown user cost a bcrypt check like any other; the overlong one cost none.
    assert bcrypt_calls == [PASSWORD.encode(), b"wrong", PASSWORD.encode()]


async def test_verdicts_are_cached_briefly(bcrypt_calls: list[bytes]) -> None:
    clock = FakeClock()
    check = PasswordCheck({"alice": HASH.encode()}, clock, ttl=60)
    for _ in range(20):  # a scrape every few seconds, and a client retrying a bad password
        assert await check.verify("alice", PASSWORD)
        assert not await check.verify("alice", "wrong")
        clock.advance(2)
    assert len(bcrypt_calls) == 2
    clock.advance(60)
    assert await check.verify("alice", PASSWORD)
    assert len(bcrypt_calls) == 3


async def test_the_cache_is_bounded(bcrypt_calls: list[bytes]) -> None:
    check = PasswordCheck({"alice": HASH.encode()}, FakeClock(), size=2)
    for guess in ("a", "b", "c", "a"):
        assert not await check.verify("alice", guess)
    assert bcrypt_calls == [b"a", b"b", b"c", b"a"]  # "a" was evicted by "c"


async def test_a_reload_keeps_the_trusted_lane_and_unchanged_verdicts(
    bcrypt_calls: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every SIGHUP cleared the trusted lane: during a guess flood, 14 of 27 good scrapes got
    429. A reload that changed nothing keeps every verdict; one that changed the users voids
    them, but a pair that was right keeps its own lane while it is checked again."""
    check = PasswordCheck({"alice": HASH.encode()}, FakeClock(), max_waiting=1)
    assert await check.verify("alice", PASSWORD)
    check.replace_users({"alice": HASH.encode()})
    assert await check.verify("alice", PASSWORD) and len(bcrypt_calls) == 1, "cached still"
    check.replace_users({"alice": HASH.encode(), "bob": bcrypt.hashpw(b"b", bcrypt.gensalt(4))})
    release, entered = threading.Event(), asyncio.Event()
    loop, counting = asyncio.get_running_loop(), bcrypt.checkpw

    def guesses_hang(password: bytes, hashed: bytes) -> bool:
        if password == b"guess":
            loop.call_soon_threadsafe(entered.set)
            release.wait(30)
        return counting(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", guesses_hang)
    guess = asyncio.create_task(check.verify("alice", "guess"))  # fills the guess lane
    await entered.wait()
    try:
        assert await check.verify("alice", PASSWORD), "the scraper's pair was not refused"
    finally:
        release.set()
    assert not await guess
    assert bcrypt_calls.count(PASSWORD.encode()) == 2, "checked again after the change"


async def test_concurrent_requests_for_one_pair_cost_one_check(bcrypt_calls: list[bytes]) -> None:
    check = PasswordCheck({"alice": HASH.encode()}, FakeClock())
    results = await asyncio.gather(*(check.verify("alice", PASSWORD) for _ in range(10)))
    assert all(results) and len(bcrypt_calls) == 1


def test_basic_credentials() -> None:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    assert basic_credentials(encoded("alice:pa:ss")) == ("alice", "pa:ss")
    assert basic_credentials(encoded("alice:")) == ("alice", "")
    assert basic_credentials(encoded("alice")) is None
    assert basic_credentials("!!!") is None
    assert basic_credentials(base64.b64encode(b"\xff:x").decode()) is None


# --- the middleware in front of a tiny app


def tiny_app(access_: WebAccess, ingest_token: bool) -> ASGIApp:
    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/healthz", ok),
            Route("/metrics", ok),
            Route("/generations", ok, methods=["POST"]),
        ]
    )
    access = Access(access_, ingest_token, max_concurrent_intake=4, max_header_bytes=2048)
    return protect(app, access)[0]


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_without_users_everything_is_open() -> None:
    async with client_for(tiny_app(WebAccess(), ingest_token=False)) as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.post("/generations")).status_code == 200


async def test_bearer_passes_to_intake_only_when_a_token_is_configured() -> None:
    users = WebAccess(users={"alice": HASH.encode()})
    bearer = {"Authorization": "Bearer anything"}
    async with client_for(tiny_app(users, ingest_token=True)) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=bearer)).status_code == 401
        assert (await client.get("/metrics", auth=("alice", PASSWORD))).status_code == 200
        # Intake decides about the token itself (the tiny app accepts any).
        assert (await client.post("/generations", headers=bearer)).status_code == 200
        assert (await client.post("/generations")).status_code == 401
    async with client_for(tiny_app(users, ingest_token=False)) as client:
        assert (await client.post("/generations", headers=bearer)).status_code == 401
        assert (await client.post("/generations", auth=("alice", PASSWORD))).status_code == 200


async def test_a_large_head_is_refused_before_auth() -> None:
    users = WebAccess(users={"alice": HASH.encode()})
    async with client_for(tiny_app(users, ingest_token=False)) as client:
        resp = await client.get("/healthz", headers={"X-Padding": "x" * 2048})
        assert resp.status_code == 431


# --- a flood of wrong passwords


@pytest.fixture
def slow_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt at a production cost (~50 ms a check), whatever the hashes' own cost."""
    real = bcrypt.checkpw

    def slow(password: bytes, hashed: bytes) -> bool:
        time.sleep(0.05)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", slow)


@pytest.mark.usefixtures("slow_bcrypt")
async def test_scrapes_keep_their_timeout_during_a_flood_of_wrong_passwords() -> None:
    """100 guesses at once and 20 more a second, while a scraper whose cached verdict keeps
    expiring scrapes every 0.2 s: every scrape answers 200 well within a 1 s timeout, and the
    guesses beyond a small queue are refused at once instead of queueing."""
    clock = FakeClock()

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    check = PasswordCheck({"alice": HASH.encode()}, clock, ttl=0.1)
    app = BasicAuth(Starlette(routes=[Route("/metrics", ok)]), check, frozenset())
    statuses: list[int] = []

    async def guess(client: httpx.AsyncClient, n: int) -> None:
        resp = await client.get("/metrics", auth=("alice", f"guess-{n}"))
        statuses.append(resp.status_code)

    async with client_for(app) as client:
        assert (await client.get("/metrics", auth=("alice", PASSWORD))).status_code == 200
        flood = [asyncio.create_task(guess(client, n)) for n in range(100)]
        scrape_times = []
        for round_ in range(10):
            flood += [asyncio.create_task(guess(client, 1000 + round_ * 4 + i)) for i in range(4)]
            clock.advance(1)  # the scraper's verdict has expired again
            started = time.monotonic()
            resp = await asyncio.wait_for(client.get("/metrics", auth=("alice", PASSWORD)), 1.0)
            scrape_times.append(time.monotonic() - started)
            assert resp.status_code == 200
            await asyncio.sleep(0.2)
        await asyncio.gather(*flood)
    assert max(scrape_times) < 0.5, scrape_times
    assert statuses.count(429) > 80, "most guesses were refused without a bcrypt check"
    assert set(statuses) == {401, 429}
