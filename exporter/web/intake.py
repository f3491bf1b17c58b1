"""``POST /generations``: applications hand over generation IDs; 202 means stored on disk.

Accepts JSON (the model in exporter/web/intake_body.py) or plain text with one ID per line.
Every refusal is a JSON error that says what is wrong; a full queue or an unwritable disk
answers 503 with Retry-After, never a silent drop. The IDs go on to
exporter/generations/intake.py; this module is the HTTP around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from exporter.generations.intake import WINDOW_HINTS, Intake, IntakeError, split_ids
from exporter.web.asgi import JSON_TYPE, query_param, read_body, send_bytes, send_json
from exporter.web.auth import BearerToken
from exporter.web.intake_body import read_intake_body

# The answer when no ID was refused, as the JSON encoder would write it.
ACCEPTED = b'{"accepted":%d,"duplicates":%d,"rejected":[]}'


def parse_body(
    content_type: str, body: bytes | bytearray, query_team: str | None
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
    parsed = read_intake_body(data)
    team = query_team if parsed.team is None else parsed.team
    if query_team is not None and team != query_team:
        raise IntakeError(400, "the team in the body and in the query differ")
    return team, parsed.id_values(), parsed.attributes


class IntakeEndpoint:
    """The ``POST /generations`` endpoint, an ASGI app: read, check, parse, hand on, answer."""

    def __init__(
        self,
        intake: Intake,
        token: BearerToken,
        max_body_bytes: int,
        on_refusal: Callable[[int, str], None],
    ) -> None:
        self._intake = intake
        self._token = token
        self._max_body_bytes = max_body_bytes
        self._on_refusal = on_refusal  # (status, message) of each refused request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        intake = self._intake
        headers = Headers(scope=scope)
        try:
            self._token.check(headers)
            body = await read_body(headers, receive, self._max_body_bytes)
            query_team = query_param(scope["query_string"], "team")
            if query_team is not None:
                intake.resolve_team(query_team)
            team, values, fields = parse_body(headers.get("content-type", ""), body, query_team)
            if len(values) > intake.max_ids:
                raise IntakeError(
                    413, f"too many IDs in one request: {len(values)} > {intake.max_ids}"
                )
            team = intake.resolve_team(team)
            ids, rejected = split_ids(values)
            accepted, duplicates, refused = await intake.accept(
                team, ids, "http", len(rejected), attributes=intake.attributes(fields)
            )
            rejected += [{"id": gen_id, "reason": WINDOW_HINTS[why]} for gen_id, why in refused]
        except IntakeError as exc:
            self._on_refusal(exc.status, str(exc))
            await send_json(send, exc.status, {"error": str(exc)}, exc.headers)
            return
        if rejected:
            answer = {"accepted": accepted, "duplicates": duplicates, "rejected": rejected}
            await send_json(send, 202, answer)
        else:  # most answers: two counts in a fixed shape, written without an encoder
            await send_bytes(send, 202, ACCEPTED % (accepted, duplicates), JSON_TYPE)
