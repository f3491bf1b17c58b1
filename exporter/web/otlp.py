"""``POST /v1/traces``: OTLP/HTTP trace intake, from applications, Collectors and AI Gateway's
own trace drain.

The shape of opentelemetry-collector's OTLP/HTTP receiver: read the content type, read the
body, establish who sent it, unmarshal, hand the message on (exporter/generations/otlp.py),
write the answer. Protobuf or JSON, compressed or not (exporter/web/encodings.py), decoded
with the OpenTelemetry bindings; ``ExportTraceServiceResponse`` with ``partial_success`` for
refused spans; 400 with a ``google.rpc.Status`` for what will never be accepted; 429/503
with Retry-After when the exporter cannot take the batch now, which a Collector retries.

Who sent it decides what its spans may do:

- a delivery with ``x-vercel-signature`` is a trace drain's: once a drain secret is
  configured, the signature must verify under one (403 otherwise, nothing stored), and then
  AI Gateway's spans are the gateway's word: observed with no lookup;
- otherwise the ingest token applies (when set), and spans give IDs to look up, unless
  ``otlp.trust_span_values`` says the token's holder forwards the drain (a Collector).

Every answer on the path carries the drain's verification code in ``x-vercel-verify`` when
one is configured, so Vercel's endpoint check passes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from exporter import routes
from exporter.config import Config
from exporter.gateway.keys import FileKey, FileSecrets, KeySource
from exporter.generations.intake import Intake, IntakeError
from exporter.generations.otlp import Accepted, OtlpIntake, Sender
from exporter.web.asgi import query_param, read_body
from exporter.web.auth import SIGNATURE_HEADER, BearerToken, DrainSignatures, SignatureError
from exporter.web.encodings import ACCEPTED, inflate
from exporter.web.refusals import Refusals, reason_of

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
VERIFY_HEADER = "x-vercel-verify"
OFF_LOOP_BYTES = 64 << 10  # uncompressed bodies from this size are decoded in a thread
DECODE_SLOTS = 2  # bodies decoded at once: the rest wait, holding no decoded copy
# Attributes, events and links a request may hold per span it is allowed (the SDKs' default
# limits are 128 of each per span): what reading a request costs grows with these, not only
# with its spans, and a few kilobytes of gzip can hold millions of empty ones.
ITEMS_PER_SPAN = 256

log = logging.getLogger(__name__)


def decode(
    body: bytes | bytearray, content_type: str, encoding: str, limit: int
) -> ExportTraceServiceRequest:
    """The request message of a body as OTLP/HTTP sends it; IntakeError says what is wrong."""
    body = inflate(body, encoding, limit)
    message = ExportTraceServiceRequest()
    try:
        if content_type == PROTOBUF:
            message.ParseFromString(body)  # type: ignore[arg-type]  # upb takes any buffer
        else:
            data = json.loads(body.decode("utf-8"))
            if not isinstance(data, dict):
                raise IntakeError(400, "not an OTLP JSON ExportTraceServiceRequest: not an object")
            json_format.ParseDict(_otlp_json(data), message, ignore_unknown_fields=True)
    except (DecodeError, json_format.ParseError, ValueError, RecursionError) as exc:
        kind = "protobuf" if content_type == PROTOBUF else "JSON"
        raise IntakeError(400, f"not an OTLP {kind} ExportTraceServiceRequest: {exc}") from None
    return message


def measure(message: ExportTraceServiceRequest, max_spans: int) -> int:
    """The spans of ``message``; IntakeError 413 when it holds more spans, resources, scopes
    or attributes, events and links than a request may. Every count is checked before the
    loop that would walk it, so a hostile body costs at most the allowance.

    Each attribute, event and link takes at least two bytes of the message's protobuf form (a
    field tag and a length), so one whose form is no larger than twice the allowance cannot
    pass it, and its spans are not walked for them (nearly every request; the walk cost about
    a microsecond a span)."""
    resources = message.resource_spans
    if len(resources) > max_spans:
        raise IntakeError(413, f"more than {max_spans} resources in one request")
    max_items = max_spans * ITEMS_PER_SPAN
    count_items = message.ByteSize() > 2 * max_items
    scopes = spans = items = 0
    for resource_spans in resources:
        scopes += len(resource_spans.scope_spans)
        items += len(resource_spans.resource.attributes)
        if scopes > max_spans:
            raise IntakeError(413, f"more than {max_spans} scopes in one request")
        for scope_spans in resource_spans.scope_spans:
            spans += len(scope_spans.spans)
            items += len(scope_spans.scope.attributes)
            if spans > max_spans:
                raise IntakeError(413, f"more than {max_spans} spans in one request")
            for span in scope_spans.spans if count_items else ():
                items += len(span.attributes) + len(span.events) + len(span.links)
                if items > max_items:
                    break
                items += sum(len(event.attributes) for event in span.events)
            if items > max_items:
                raise IntakeError(
                    413, f"more than {max_items} attributes, events and links in one request"
                )
    return spans


def _decode_measured(
    body: bytes | bytearray, content_type: str, encoding: str, limit: int, max_spans: int
) -> tuple[ExportTraceServiceRequest, int]:
    message = decode(body, content_type, encoding, limit)
    return message, measure(message, max_spans)


# Vercel's trace drain writes a span's kind as "server", "client" …; OTLP/JSON as an integer or
# the enum's name. A status code likewise.
_KINDS = {
    name: f"SPAN_KIND_{name.upper()}"
    for name in ("unspecified", "internal", "server", "client", "producer", "consumer")
}
_STATUS_CODES = {name: f"STATUS_CODE_{name.upper()}" for name in ("unset", "ok", "error")}


_HEX_ID = re.compile(r"(?:[0-9a-fA-F]{2})+")
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _otlp_json(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as protobuf's JSON parser reads it (in place: the parsed body is this
    function's alone). OTLP/JSON writes trace and span IDs in hex where protobuf's JSON
    mapping has base64, and Vercel's JSON spells a span's kind "server"."""
    for resource_spans in _items(data.get("resourceSpans")):
        for scope_spans in _items(resource_spans.get("scopeSpans")):
            for span in _items(scope_spans.get("spans")):
                for field in _ID_FIELDS:
                    value = span.get(field)
                    if isinstance(value, str) and _HEX_ID.fullmatch(value):
                        span[field] = base64.b64encode(bytes.fromhex(value)).decode()
                kind = span.get("kind")
                if isinstance(kind, str):
                    span["kind"] = _KINDS.get(kind.lower(), kind)
                status = span.get("status")
                if isinstance(status, dict) and isinstance(status.get("code"), str):
                    status["code"] = _STATUS_CODES.get(status["code"].lower(), status["code"])
    return data


def _items(value: object) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else is left for the parser to refuse)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def media_type(header: str) -> str:
    media = header.split(";")[0].strip().lower()
    if media not in (PROTOBUF, JSON):
        raise IntakeError(
            415, f"unsupported content type {media or '(none)'!r}: send {PROTOBUF} or {JSON}"
        )
    return media


class DrainAccess:
    """The trace drains' secrets and verification codes, per team, from their files (re-read
    when they change and on SIGHUP, like keys)."""

    def __init__(self, config: Config, teams: list[str]) -> None:
        secrets: dict[str, FileSecrets] = {}
        self._codes: dict[str, FileKey] = {}
        self._code: FileKey | None = None  # the only team's, or the one for any team
        drain = config.drain
        if drain.secret_file is not None:
            secrets[teams[0]] = FileSecrets(drain.secret_file, "drain.secret_file")
        if drain.verify_code_file is not None:
            self._code = FileKey(drain.verify_code_file, "drain.verify_code_file")
        for team in config.teams:
            if team.drain_secret_file is not None:
                secrets[team.name] = FileSecrets(
                    team.drain_secret_file, f"teams[{team.name}].drain_secret_file"
                )
            if team.drain_verify_code_file is not None:
                self._codes[team.name] = FileKey(
                    team.drain_verify_code_file, f"teams[{team.name}].drain_verify_code_file"
                )
        self.signatures = DrainSignatures(secrets) if secrets else None
        self.teams = tuple(secrets)

    def keys(self) -> list[KeySource]:
        """The files to re-read on SIGHUP."""
        files: list[KeySource] = [*self._codes.values()]
        files += [] if self._code is None else [self._code]
        return files + ([] if self.signatures is None else self.signatures.sources())

    def verify_code(self, team: str | None) -> str | None:
        """The code to answer with: the team's, else the one configured for all; a lone
        team code is everyone's (Vercel's endpoint check names no team)."""
        if team is not None and team in self._codes:
            return self._codes[team].get()
        if self._code is not None:
            return self._code.get()
        if len(self._codes) == 1:
            return next(iter(self._codes.values())).get()
        return None


class TracesEndpoint:
    """The ``/v1/traces`` handler."""

    def __init__(
        self,
        traces: OtlpIntake,
        intake: Intake,
        token: BearerToken,
        drain: DrainAccess,
        refusals: Refusals,
        max_body_bytes: int,
        max_spans: int,
        trust_token: bool,
    ) -> None:
        self._traces = traces
        self._intake = intake
        self._token = token
        self._drain = drain
        self._refusals = refusals
        self._limit = max_body_bytes
        self._max_spans = max_spans
        self._decoding = asyncio.Semaphore(DECODE_SLOTS)
        self._trust_token = trust_token  # otlp.trust_span_values
        self._unverifiable_logged = False

    async def handle(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            return self._describe(request)
        content_type = PROTOBUF
        team: str | None = None
        try:
            content_type = media_type(request.headers.get("content-type", ""))
            query_team = query_param(request.scope["query_string"], "team")
            team = None if query_team is None else self._intake.resolve_team(query_team)
            signature = self._signature(request)
            if signature is None:
                self._token.check(request.headers)
            body = await read_body(request.headers, request.receive, self._limit)
            sender = self._sender(body, signature)
            team = sender.team or team
            encoding = request.headers.get("content-encoding", "").strip().lower()
            message, spans = await self._decode(body, content_type, encoding)
            accepted = await self._traces.accept(message, sender, team, spans)
        except SignatureError as exc:
            self._refusals.refuse(routes.TRACES, exc.reason, 403, str(exc))
            response = JSONResponse({"code": "invalid_signature", "error": str(exc)}, 403)
            return self._verified(response, team)
        except IntakeError as exc:
            self._refusals.refuse(routes.TRACES, reason_of(exc.status), exc.status, str(exc))
            status = _status(exc.status, str(exc))
            return self._verified(_answer(status, content_type, exc.status, exc.headers), team)
        return self._verified(_answer(_response(accepted), content_type, 200), team)

    async def _decode(
        self, body: bytearray, content_type: str, encoding: str
    ) -> tuple[ExportTraceServiceRequest, int]:
        """The message and its spans. A compressed or large body may inflate to millions of
        messages: it is decoded and measured in a thread, two at a time, never on the loop."""
        args = (body, content_type, encoding, self._limit, self._max_spans)
        if not encoding and len(body) < OFF_LOOP_BYTES:
            return _decode_measured(*args)
        async with self._decoding:
            return await asyncio.to_thread(_decode_measured, *args)

    def _sender(self, body: bytearray, signature: str | None) -> Sender:
        """Who sent ``body``: a drain whose signature verified, the ingest token's holder, or
        anyone; raises SignatureError for a signature no configured secret made."""
        if signature is not None and self._drain.signatures is not None:
            signer = self._drain.signatures.team(body, signature)
            return Sender(signer, trusted=True, digest=_digest(body), size=len(body))
        if self._trust_token:  # the token was checked: a trusted forwarder
            return Sender(trusted=True, digest=_digest(body), size=len(body))
        return Sender(size=len(body))

    def _signature(self, request: Request) -> str | None:
        """The delivery's signature, when a drain secret can check it. Without one a signed
        delivery is taken as unsigned (the token applies, its spans give IDs to look up):
        said once, since its values are then not counted."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is not None and self._drain.signatures is None:
            if not self._unverifiable_logged:
                self._unverifiable_logged = True
                log.warning(
                    "a trace drain delivery arrived signed, but no drain secret is configured: "
                    "its spans count as IDs to look up; set --drain.secret-file (or "
                    "teams[].drain_secret_file) to count them from the spans"
                )
            return None
        return signature

    def _describe(self, request: Request) -> Response:
        """GET or HEAD: what the path takes (and the verification code Vercel looks for)."""
        team = query_param(request.scope["query_string"], "team")
        encodings = ", ".join(ACCEPTED)
        body = {"accepts": f"POST OTLP/HTTP traces ({PROTOBUF} or {JSON}; {encodings} or none)"}
        return self._verified(JSONResponse(body), team)

    def _verified(self, response: Response, team: str | None) -> Response:
        code = self._drain.verify_code(team)
        if code is not None:
            response.headers[VERIFY_HEADER] = code
        return response


class VerifyHeader:
    """ASGI middleware: the drain's verification code on answers the ``/v1/traces`` handler
    never wrote (401 from basic auth, 503 from the intake cap, 431, 405), so Vercel's
    endpoint check passes whatever stands in front."""

    def __init__(self, app: ASGIApp, drain: DrainAccess) -> None:
        self._app = app
        self._drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != routes.TRACES:
            await self._app(scope, receive, send)
            return
        code = self._drain.verify_code(None)
        if code is None:
            await self._app(scope, receive, send)
            return

        async def with_code(message: AsgiMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == VERIFY_HEADER.encode() for name, _ in headers):
                    headers.append((VERIFY_HEADER.encode(), code.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, with_code)


def _digest(body: bytearray) -> bytes:
    """What identifies a trusted delivery: the same bytes again count nothing."""
    return hashlib.sha256(body).digest()


def _response(accepted: Accepted) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if accepted.refused:
        response.partial_success.rejected_spans = accepted.refused
        response.partial_success.error_message = accepted.message
    return response


def _status(code: int, message: str) -> Status:
    # gRPC codes the way the OTLP specification pairs them with HTTP statuses.
    grpc = {400: 3, 401: 16, 413: 3, 415: 3, 429: 8, 503: 14}.get(code, 2)
    return Status(code=grpc, message=message)


def _answer(
    message: Message, content_type: str, status: int, headers: Mapping[str, str] | None = None
) -> Response:
    """The message in the encoding of the request, as the specification asks."""
    if content_type == JSON:
        body = json_format.MessageToJson(message, indent=None).encode()
    else:
        body = message.SerializeToString()
    return Response(body, status_code=status, media_type=content_type, headers=dict(headers or {}))
