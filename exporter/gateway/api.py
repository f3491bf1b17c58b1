"""What every upstream REST client shares: one base class, so the gateway, budgets and catalog
clients send, count, retry and fail the same way.

Each request becomes either a parsed record or a typed GatewayError, and is counted and timed
(ApiMetrics, by team, endpoint and code). Both error envelopes are read (nested
``{"error": {"message", "type"}}`` and the flat one ``/v1/generation`` uses). Whether a request
is retried inline is each endpoint's choice: the retry policy is applied here, never
reimplemented by a client.

An HTML page, or a 404 on a path the API always has, means the URL leads somewhere else (a web
site, a proxy, a path prefix the API does not have): it becomes a MisdirectedError naming the
option to fix, so a wrong URL is not mistaken for "not recorded yet" or a bad answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import httpx

from exporter import __version__
from exporter.clock import Clock, SystemClock
from exporter.gateway.errors import (
    AuthError,
    BadRequestError,
    GatewayError,
    InvalidResponseError,
    MisdirectedError,
    NotFoundError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from exporter.gateway.keys import KeySource
from exporter.gateway.models import load_json
from exporter.gateway.retry import RetryPolicy, parse_retry_after
from exporter.gateway.transport import Upstream
from exporter.metrics import ApiMetrics
from exporter.redaction import SECRETS

T = TypeVar("T")
USER_AGENT = f"vercel-ai-gateway-exporter/{__version__}"
_MAX_MESSAGE = 300
OFF_LOOP_BYTES = 256 << 10  # answers from this size are parsed in a thread


def error_details(body: object) -> tuple[str | None, str | None]:
    """(message, type) from either error envelope, or (None, None)."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        message, kind = error.get("message"), error.get("type")
        return (
            message if isinstance(message, str) else None,
            kind if isinstance(kind, str) else None,
        )
    if isinstance(error, str):
        message = body.get("message")
        return (message if isinstance(message, str) else error), None
    return None, None


def _error_for(
    status: int, message: str, error_type: str | None, retry_after: float | None
) -> GatewayError:
    kwargs: dict[str, Any] = {
        "status": status,
        "error_type": error_type,
        "retry_after": retry_after,
    }
    if status in (401, 403):
        return AuthError(message, **kwargs)
    if status == 402:  # quota_for_entity_exceeded: a budget blocks the key
        return QuotaExceededError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    if status == 429:
        return RateLimitedError(message, **kwargs)
    if status >= 500 or status in (408, 409):
        return ServerError(message, **kwargs)
    return BadRequestError(message, **kwargs)


def _parsed(parse: Callable[[Any], T], content: bytes) -> T:
    return parse(load_json(content))


def _looks_like_html(response: httpx.Response) -> bool:
    if "html" in response.headers.get("content-type", "").lower():
        return True
    return response.content.lstrip()[:1] == b"<"


class ApiClient:
    """One upstream API as seen by one team: transport, credentials, retries, metrics and
    errors. Subclasses add the endpoints and say what their messages should name."""

    # What the bearer token is, in the message of a 401 or 403.
    credential: ClassVar[str]
    # The option that sets the URL, and what it should look like, for a misdirected answer.
    url_option: ClassVar[str]
    url_example: ClassVar[str]
    # Endpoints whose 404 says "no such record" (JSON); anywhere else a 404 means a wrong URL.
    not_found_endpoints: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        team: str,
        base_url: str,
        key: KeySource | None,
        api_metrics: ApiMetrics,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.team = team
        self.base_url = base_url
        self._key = key
        self._metrics = api_metrics
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        # httpx's timeout bounds each read, so an answer that trickles a byte at a time never
        # ends; this bounds the whole request, headers and body.
        self._deadline = timeout
        self._upstream = Upstream(
            base_url,
            {"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout,
            transport,
        )
        self._headers_key: str | None = None  # the key self._headers carries, if any
        self._headers = self._upstream.headers

    async def aclose(self) -> None:
        await self._upstream.aclose()

    async def _get(
        self,
        endpoint: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        params: Mapping[str, str] | None = None,
        retried: bool,
    ) -> T:
        """GET ``path`` and parse the body; ``endpoint`` is the ``api_endpoint`` label.
        ``retried``: whether transient errors are retried inline by the retry policy, or left
        to the caller (a durable queue, a billed query, the next poll)."""
        if retried:
            return await self._retry.run(lambda: self._attempt(endpoint, path, params, parse))
        return await self._attempt(endpoint, path, params, parse)

    async def _attempt(
        self,
        endpoint: str,
        path: str,
        params: Mapping[str, str] | None,
        parse: Callable[[Any], T],
    ) -> T:
        """One request, counted and timed whatever its outcome."""
        started = time.perf_counter()
        code = "network_error"
        try:
            response = await self._send(path, params)
            code = str(response.status_code)
            if not response.is_success:
                raise self._error(response, endpoint, path)
            if _looks_like_html(response):
                code = "invalid_response"
                raise self._misdirected(response, path)
            try:
                if len(response.content) < OFF_LOOP_BYTES:
                    result = _parsed(parse, response.content)
                else:  # a catalog of thousands of models takes seconds: not on the loop
                    result = await asyncio.to_thread(_parsed, parse, response.content)
            except InvalidResponseError:
                code = "invalid_response"
                raise
        except TransportError as exc:
            code = exc.code
            raise
        finally:
            self._metrics.observe(self.team, endpoint, code, time.perf_counter() - started)
        return result

    async def _send(self, path: str, params: Mapping[str, str] | None) -> httpx.Response:
        try:
            request = self._upstream.request(path, params, self._current_headers())
            return await asyncio.wait_for(self._upstream.send(request), self._deadline)
        except (httpx.TimeoutException, asyncio.TimeoutError):
            raise TransportError("request timed out", timeout=True) from None
        except httpx.HTTPError as exc:
            raise TransportError(f"request failed: {type(exc).__name__}") from None

    def _current_headers(self) -> httpx.Headers:
        """The upstream's headers and the current key's Authorization, made again only when
        the key changed (a key file re-read). No key: a public endpoint (the model catalog),
        which is sent no credentials at all."""
        key = None if self._key is None else self._key.get()
        if key != self._headers_key:
            headers = self._upstream.headers.copy()
            if key is not None:
                headers["Authorization"] = f"Bearer {key}"
            self._headers_key, self._headers = key, headers
        return self._headers

    def _misdirected(self, response: httpx.Response, path: str) -> MisdirectedError:
        status = response.status_code
        if response.is_redirect:
            what = "a redirect"
        elif _looks_like_html(response):
            what = "an HTML page"
        else:
            what = "no such path"
        return MisdirectedError(
            f"{self.url_option} {self.base_url} does not lead to the API: GET {path} answered "
            f"{status} ({what}); expected a URL such as {self.url_example}",
            status=status,
        )

    def _error(self, response: httpx.Response, endpoint: str, path: str) -> GatewayError:
        status = response.status_code
        if response.is_redirect or (
            status == 404
            and (_looks_like_html(response) or endpoint not in self.not_found_endpoints)
        ):
            return self._misdirected(response, path)
        try:
            body = load_json(response.content) if response.content else None
        except InvalidResponseError:
            body = None
        message, error_type = error_details(body)
        # Masked whole, then cut: cut first, a key quoted near the end loses its tail and no
        # longer matches the mask.
        text = SECRETS.mask(message or response.reason_phrase or "no message")[:_MAX_MESSAGE]
        if status in (401, 403):
            text = f"{self.credential} rejected for team {self.team} ({status}: {text})"
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock.time())
        return _error_for(status, text, error_type, retry_after)
