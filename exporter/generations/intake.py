"""``POST /generations``: applications hand over generation IDs; 202 means stored on disk.

Accepts JSON (``{"ids": [...]}`` or ``{"id": "..."}``, optionally with ``"team"``) or plain
text with one ID per line. Every refusal is a JSON error that says what is wrong; a full
queue or an unwritable disk answers 503 with Retry-After, never a silent drop.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from exporter.clock import Clock
from exporter.gateway.keys import KeySource
from exporter.gateway.models import canonical_generation_id
from exporter.generations.activity import Activity
from exporter.generations.attribution import Attribution
from exporter.generations.store import (
    AddIds,
    Operation,
    SeriesMirror,
    StateWriter,
    StoreUnavailable,
)

ID_HINT = "not a generation ID (expected gen_ followed by 26 Crockford base32 characters)"
MAX_ID_ECHO = 64  # characters of a rejected value echoed back


class IntakeError(Exception):
    """A request refused as a whole, with its status and message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class IntakeLimits:
    max_body_bytes: int = 1 << 20
    max_ids: int = 10_000
    max_pending: int = 2_000_000


@dataclass(frozen=True)
class Submission:
    team: str
    ids: list[str]
    rejected: list[dict[str, str]]


def split_ids(values: Sequence[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Valid IDs in order, in their canonical (upper-case) form, and a reason for each string
    that is not one."""
    valid: list[str] = []
    rejected: list[dict[str, str]] = []
    for value in values:
        canonical = canonical_generation_id(value.strip())
        if canonical is not None:
            valid.append(canonical)
        else:
            rejected.append({"id": value[:MAX_ID_ECHO], "reason": ID_HINT})
    return valid, rejected


def parse_body(
    content_type: str, body: bytes, query_team: str | None
) -> tuple[str | None, list[str], dict[str, str]]:
    """(team, raw ID values, attribution fields) from a JSON or plain-text body."""
    media = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise IntakeError(400, "body is not valid UTF-8") from None
    if media == "text/plain":
        # Lines end at \n (\r\n too); str.splitlines would also split at \x1c-\x1e and more.
        return query_team, [line.strip() for line in text.split("\n") if line.strip()], {}
    if media != "application/json":
        raise IntakeError(
            415,
            f"unsupported content type {media or '(none)'!r}: send application/json or text/plain",
        )
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise IntakeError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise IntakeError(400, "body is not valid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise IntakeError(400, 'expected a JSON object: {"ids": [...]} or {"id": "..."}')
    unknown = sorted(set(data) - {"ids", "id", "team", "attributes"})
    if unknown:
        raise IntakeError(400, f"unknown field {unknown[0]!r} (expected ids, id, team, attributes)")
    if ("ids" in data) == ("id" in data):
        raise IntakeError(400, 'give exactly one of "ids" (a list) or "id" (a string)')
    values = data["ids"] if "ids" in data else [data["id"]]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        field = "ids" if "ids" in data else "id"
        raise IntakeError(
            400, f'"{field}" must be ' + ("a list of strings" if field == "ids" else "a string")
        )
    team = data.get("team", query_team)
    if team is not None and not isinstance(team, str):
        raise IntakeError(400, '"team" must be a string')
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise IntakeError(400, '"attributes" must be an object of strings')
    # JSON may escape a lone UTF-16 surrogate ("\ud800"): such a string is no text at all, so
    # the request is refused whole before anything is stored.
    for index, value in enumerate([*values, team or ""]):
        if not _is_text(value):
            where = f"ids[{index}]" if index < len(values) else '"team"'
            raise IntakeError(400, f"{where} holds a lone UTF-16 surrogate, which is not text")
    if not all(_is_text(text) for pair in attributes.items() for text in pair):
        raise IntakeError(400, '"attributes" holds a lone UTF-16 surrogate, which is not text')
    if query_team is not None and team != query_team:
        raise IntakeError(400, "the team in the body and in the query differ")
    return team, values, attributes


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IntakeError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise IntakeError(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # Gone, or cut off by the read deadline (exporter/web/limits.py): nobody reads this
        # answer, but it ends the request quietly instead of with a traceback in the log.
        raise IntakeError(400, "the client left before the body was complete") from None
    return b"".join(chunks)


def query_param(request: Request, name: str) -> str | None:
    """A query parameter, without parsing an empty query string (most intake requests)."""
    return request.query_params.get(name) if request.scope["query_string"] else None


class Intake:
    """The intake endpoint and the one place IDs enter the store (HTTP and demo alike)."""

    def __init__(
        self,
        writer: StateWriter,
        mirror: SeriesMirror,
        teams: Sequence[str],
        clock: Clock,
        initial_delay: float,
        limits: IntakeLimits,
        token: KeySource | None = None,
        attribution: Attribution | None = None,
        on_refusal: Callable[[int, str], None] | None = None,
    ) -> None:
        self._writer = writer
        self._attribution = attribution
        self._reserved: dict[str, int] = {}  # IDs of requests whose commit is awaited
        self._mirror = mirror
        self._teams = list(teams)
        self._clock = clock
        self._initial_delay = initial_delay
        self._limits = limits
        self._token = token
        self._on_refusal = on_refusal  # (status, message) of each refused request
        self.activity = Activity(clock)  # what the landing page shows as recent arrivals

    def resolve_team(self, team: str | None) -> str:
        if team is None:
            if len(self._teams) == 1:
                return self._teams[0]
            raise IntakeError(
                400,
                f"several teams are configured: say which one with "
                f'"team" ({", ".join(self._teams)})',
            )
        if team not in self._teams:
            raise IntakeError(
                400, f"unknown team {team[:MAX_ID_ECHO]!r} (configured: {', '.join(self._teams)})"
            )
        return team

    async def accept(
        self,
        team: str,
        ids: list[str],
        source: str,
        rejected: int = 0,
        offset: tuple[str, int, int] | None = None,
        attributes: str = "",
    ) -> tuple[int, int]:
        """Store ``ids`` durably for ``team`` with their attribution values (as
        ``Attribution`` stores them); returns (accepted, duplicates)."""
        op = self.queue_op(team, ids, source, rejected, offset, attributes)
        accepted, duplicates = await self.commit(
            op, {team: len(ids)}, [(team, source, len(ids) + rejected)]
        )
        return int(accepted), int(duplicates)

    def queue_op(
        self,
        team: str,
        ids: list[str],
        source: str,
        rejected: int = 0,
        offset: tuple[str, int, int] | None = None,
        attributes: str = "",
    ) -> AddIds:
        """The store operation that queues ``ids`` for their first lookup."""
        due = self._clock.steady() + self._initial_delay
        return AddIds(team, source, ids, due, rejected, offset, attributes)

    async def commit(
        self,
        op: Operation,
        queued: Mapping[str, int],
        arrivals: Iterable[tuple[str, str, int]],
    ) -> Any:
        """Commit ``op``, which queues up to ``queued`` IDs per team, once every team has room
        for them; ``arrivals`` (team, intake path, IDs) are then shown as recent activity."""
        for team, count in queued.items():
            self.check_room(team, count)
        # Held while the commit is awaited, so concurrent requests cannot all pass the check.
        for team, count in queued.items():
            self._reserved[team] = self._reserved.get(team, 0) + count
        try:
            result = await self._writer.submit(op)
        except StoreUnavailable as exc:
            raise IntakeError(
                503, f"IDs not stored: {exc}; retry later", {"Retry-After": "10"}
            ) from None
        finally:
            for team, count in queued.items():
                self._reserved[team] -= count
        for team, source, count in arrivals:
            self.activity.record(team, source, count)
        return result

    def check_room(self, team: str, count: int) -> None:
        """503 when ``count`` more IDs would pass the team's queue bound (``max_pending``),
        counting what requests still being committed are adding."""
        queued = self._mirror.pending.get(team, 0) + self._reserved.get(team, 0)
        if queued + count > self._limits.max_pending:
            raise IntakeError(
                503,
                f"the lookup queue of team {team} is full "
                f"({self._limits.max_pending} IDs); retry later",
                {"Retry-After": "30"},
            )

    def attributes(self, fields: Mapping[str, str]) -> str:
        """The stored form of attribution fields sent with IDs ("" when none is configured)."""
        return self._attribution.from_fields(fields) if self._attribution else ""

    def check_token(self, request: Request) -> None:
        """401 unless the request carries the ingest token (when one is configured)."""
        if self._token is None:
            return
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        expected = self._token.get()
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected.encode()
        ):
            raise IntakeError(
                401,
                "missing or wrong bearer token",
                {"WWW-Authenticate": 'Bearer realm="generations"'},
            )

    async def handle(self, request: Request) -> Response:
        try:
            self.check_token(request)
            body = await read_body(request, self._limits.max_body_bytes)
            query_team = query_param(request, "team")
            if query_team is not None:
                self.resolve_team(query_team)
            team, values, fields = parse_body(
                request.headers.get("content-type", ""), body, query_team
            )
            if len(values) > self._limits.max_ids:
                raise IntakeError(
                    413, f"too many IDs in one request: {len(values)} > {self._limits.max_ids}"
                )
            team = self.resolve_team(team)
            ids, rejected = split_ids(values)
            accepted, duplicates = await self.accept(
                team, ids, "http", len(rejected), attributes=self.attributes(fields)
            )
        except IntakeError as exc:
            if self._on_refusal is not None:
                self._on_refusal(exc.status, str(exc))
            return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)
        return JSONResponse(
            {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}, status_code=202
        )
