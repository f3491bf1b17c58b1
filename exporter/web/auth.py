"""Who may use the HTTP endpoints: basic auth from the web config file, and the ingest token.

With ``basic_auth_users`` in the web config file every endpoint needs a configured user except
``/healthz``, so kubelet liveness probes keep working without credentials (``/readyz`` is
protected: configure the probe's ``httpHeaders`` or use ``/healthz``). With an ingest token set,
``POST /generations`` takes that bearer token instead of basic auth: a client sends a single
Authorization header, and the token is the narrower credential made for applications (it can
submit IDs and read nothing). Intake checks the token itself, so basic auth alone never
submits IDs when a token is configured.

A trace drain delivery proves itself with its signature instead (``DrainSignatures``): it may
reach ``/v1/traces`` without basic auth or the token, and its handler refuses it unless the
signature verifies.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping

import bcrypt
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from exporter import routes
from exporter.clock import Clock, SystemClock
from exporter.gateway.keys import FileSecrets, KeySource
from exporter.generations.intake import IntakeError

REALM = 'Basic realm="vercel-ai-gateway-exporter", charset="UTF-8"'
CACHE_TTL = 60.0
CACHE_SIZE = 1024
MAX_WAITING = 8  # distinct unverified pairs queued for bcrypt before refusing more
BCRYPT_MAX_BYTES = 72
SIGNATURE_HEADER = "x-vercel-signature"
_SIGNATURE = re.compile(r"[0-9a-f]{40}")  # hex SHA-1, as Vercel writes it


class Busy(Exception):
    """Too many unverified passwords are waiting for bcrypt; the client should retry later."""


class PasswordCheck:
    """bcrypt verification that keeps a scrape cheap and a flood of guesses harmless.

    bcrypt is slow on purpose (~80 ms at cost 10) and Prometheus scrapes every few seconds, so
    the verdict for a (user, password) pair is remembered for ``ttl`` seconds under a keyed
    digest (the password itself is never kept); wrong pairs too, so a client retrying a bad
    password costs nothing either. Checks run in a thread, one at a time per lane:

    - pairs that were right before (the scraper whose verdict just expired) have a lane of
      their own, so they never wait behind guesses;
    - every other pair shares one lane, with at most ``max_waiting`` distinct pairs queued;
      past that a request is refused at once (``Busy``: 429), so a flood costs one core and
      a bounded queue, never the scrapes' timeouts.

    Concurrent requests for the same pair wait for one check.
    """

    def __init__(
        self,
        users: Mapping[str, bytes],
        clock: Clock | None = None,
        ttl: float = CACHE_TTL,
        size: int = CACHE_SIZE,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        if not users:
            raise ValueError("no users to check against")
        self._users = dict(users)
        # Unknown users are checked against a real hash too, so timing does not reveal names.
        self._decoy = next(iter(self._users.values()))
        self._clock = clock or SystemClock()
        self._ttl = ttl
        self._size = size
        self._max_waiting = max_waiting
        self._key = secrets.token_bytes(32)
        self._verdicts: OrderedDict[bytes, tuple[bool, float]] = OrderedDict()
        self._trusted: OrderedDict[bytes, None] = OrderedDict()  # digests that were right
        self._checking: dict[bytes, asyncio.Future[bool]] = {}
        self._trusted_lane = asyncio.Lock()
        self._other_lane = asyncio.Lock()
        self._waiting = 0  # distinct untrusted pairs queued or being checked

    def replace_users(self, users: Mapping[str, bytes]) -> None:
        """New users and hashes (a reloaded web config): every remembered verdict is void.

        The trusted lane stays: it only orders checks, each still made against the new hashes,
        and a reload during a flood of guesses must not put the scraper behind them. A reload
        that changed nothing keeps the verdicts too."""
        if not users:
            raise ValueError("no users to check against")
        if dict(users) == self._users:
            return
        self._users = dict(users)
        self._decoy = next(iter(self._users.values()))
        self._verdicts.clear()

    def _digest(self, user: bytes, password: bytes) -> bytes:
        message = len(user).to_bytes(4, "big") + user + password
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _cached(self, digest: bytes) -> bool | None:
        entry = self._verdicts.get(digest)
        if entry is None or entry[1] <= self._clock.monotonic():
            return None
        return entry[0]

    def _bcrypt(self, user: str, password: bytes) -> bool:
        hashed = self._users.get(user)
        matches = bcrypt.checkpw(password, hashed if hashed is not None else self._decoy)
        return matches and hashed is not None

    def _remember(self, digest: bytes, verdict: bool) -> None:
        self._verdicts[digest] = (verdict, self._clock.monotonic() + self._ttl)
        self._verdicts.move_to_end(digest)
        while len(self._verdicts) > self._size:
            self._verdicts.popitem(last=False)
        if verdict:
            self._trusted[digest] = None
            self._trusted.move_to_end(digest)
            while len(self._trusted) > self._size:
                self._trusted.popitem(last=False)
        else:
            self._trusted.pop(digest, None)  # the password changed since

    async def verify(self, user: str, password: str) -> bool:
        """Whether the pair is right; raises ``Busy`` when the guess lane is full."""
        secret = password.encode()
        if len(secret) > BCRYPT_MAX_BYTES:
            return False  # bcrypt cannot tell such passwords apart; Go's bcrypt refuses them too
        digest = self._digest(user.encode(), secret)
        verdict = self._cached(digest)
        if verdict is not None:
            return verdict
        running = self._checking.get(digest)
        if running is not None:
            return await asyncio.shield(running)
        trusted = digest in self._trusted
        if not trusted and self._waiting >= self._max_waiting:
            raise Busy
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._checking[digest] = future
        self._waiting += 0 if trusted else 1
        try:
            async with self._trusted_lane if trusted else self._other_lane:
                verdict = await asyncio.to_thread(self._bcrypt, user, secret)
            self._remember(digest, verdict)
            future.set_result(verdict)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        finally:
            self._waiting -= 0 if trusted else 1
            del self._checking[digest]
            if not future.done():
                future.cancel()
        return verdict


def basic_credentials(value: str) -> tuple[str, str] | None:
    """(user, password) from the credentials of an ``Authorization: Basic`` header."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class BasicAuth:
    """ASGI middleware: 401 for any request to a protected path without a valid user."""

    def __init__(
        self,
        app: ASGIApp,
        check: PasswordCheck,
        bearer_paths: frozenset[str],
        signed_paths: frozenset[str] = frozenset(),
    ) -> None:
        self._app = app
        self._check = check
        self._bearer_paths = bearer_paths
        # A drain's delivery proves itself with its signature (checked by the handler), and
        # Vercel's endpoint check reads the path without credentials.
        self._signed_paths = signed_paths

    async def _allowed(self, scope: Scope) -> bool:
        """Raises ``Busy`` when the pair cannot be checked now."""
        headers = Headers(scope=scope)
        if scope["path"] in self._signed_paths and (
            SIGNATURE_HEADER in headers or scope["method"] in ("GET", "HEAD")
        ):
            return True
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return scope["path"] in self._bearer_paths
        if scheme.lower() != "basic":
            return False
        pair = basic_credentials(credentials)
        return pair is not None and await self._check.verify(*pair)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            allowed = scope["type"] != "http" or scope["path"] in routes.OPEN
            allowed = allowed or await self._allowed(scope)
        except Busy:
            response = JSONResponse(
                {"error": "too many password checks in progress; retry later"},
                status_code=429,
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        if allowed:
            await self._app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "missing or wrong user name or password (basic auth)"},
            status_code=401,
            headers={"WWW-Authenticate": REALM},
        )
        await response(scope, receive, send)


class SignatureError(Exception):
    """A drain delivery no configured secret signed; ``reason`` is the refusal's label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DrainSignatures:
    """Which team's trace drain signed a delivery: ``x-vercel-signature`` is the hex
    HMAC-SHA1 of the exact body bytes received, keyed with the drain's signature secret.

    Each team's secret file may hold two secrets while one is rotated; the secret that
    verifies a delivery says whose team it is, so one URL serves several teams' drains.
    """

    def __init__(self, secrets: Mapping[str, FileSecrets]) -> None:
        self._secrets = dict(secrets)

    def sources(self) -> list[FileSecrets]:
        return list(self._secrets.values())

    def team(self, body: bytes | bytearray, signature: str) -> str:
        """The team whose secret signed ``body``; SignatureError when none did."""
        if not _SIGNATURE.fullmatch(signature):
            raise SignatureError(
                "signature_malformed",
                f"{SIGNATURE_HEADER} is not a hex HMAC-SHA1 (40 lower-case hex digits)",
            )
        for team, source in self._secrets.items():
            for secret in source.values():
                expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
                if hmac.compare_digest(expected, signature):
                    return team
        raise SignatureError(
            "signature_mismatch",
            f"{SIGNATURE_HEADER} does not match the body under any configured drain secret "
            "(check the secret file against the drain's signature secret)",
        )


class BearerToken:
    """The ingest token an intake request must carry (when one is configured): a 401
    otherwise. Compared in constant time; the file is re-read when it changes."""

    def __init__(self, token: KeySource | None) -> None:
        self.source = token

    def check(self, headers: Headers) -> None:
        if self.source is None:
            return
        scheme, _, presented = headers.get("authorization", "").partition(" ")
        expected = self.source.get()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise IntakeError(
                401,
                "missing or wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="generations"'},
            )
