"""ApiClient, the base every upstream client shares, tested once through the smallest subclass:
credentials, headers, metrics, inline retries and Retry-After, and how each kind of answer
becomes a record or a GatewayError. The clients' own tests cover only their endpoints."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import respx
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.gateway.api import OFF_LOOP_BYTES, USER_AGENT, ApiClient
from exporter.gateway.errors import (
    AuthError,
    BadRequestError,
    InvalidResponseError,
    MisdirectedError,
    NotFoundError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from exporter.gateway.keys import FileKey, KeySource, StaticKey
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import API_REQUEST_DURATION, API_REQUESTS, ApiMetrics

BASE = "https://api.test"
KEY = "sk-test-client-0123456789"
NESTED_401 = {
    "error": {
        "message": "Authentication failed. Invalid API key or OIDC token.",
        "type": "authentication_error",
    }
}
NESTED_429 = {"error": {"message": "Rate limit exceeded", "type": "rate_limit_exceeded"}}
NESTED_500 = {"error": {"message": "Internal server error", "type": "internal_server_error"}}
NESTED_503 = {"error": {"message": "Service unavailable", "type": "internal_server_error"}}
HTML_404 = b"<!DOCTYPE html><html><body><h1>404: This page could not be found</h1></body></html>"
NOT_FOUND_NESTED = {"error": {"message": "Not found", "type": "not_found_error"}}


def parse_count(body: object) -> int:
    if not isinstance(body, dict) or type(body.get("count")) is not int:
        raise InvalidResponseError('counts: expected {"count": int}')
    return int(body["count"])


class Probe(ApiClient):
    """The least a client adds: an endpoint retried inline, and one tried once whose JSON
    404 means "no such record"."""

    credential = "probe token"
    url_option = "probe.url"
    url_example = "https://probe.example"
    not_found_endpoints = frozenset({"record"})

    async def counts(self) -> int:
        return await self._get("counts", "/v1/counts", parse_count, retried=True)

    async def record(self, record_id: str) -> int:
        return await self._get(
            "record", "/v1/record", parse_count, params={"id": record_id}, retried=False
        )


class Sleeps:
    """Records the inline retry waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def probe(registry: CollectorRegistry, sleeps: Sleeps, key: KeySource | None) -> Probe:
    return Probe(
        "prod",
        BASE,
        key,
        ApiMetrics(registry),
        retry=RetryPolicy(attempts=3, sleep=sleeps),
        clock=FakeClock(),
    )


@pytest.fixture
def client(registry: CollectorRegistry, sleeps: Sleeps) -> Probe:
    return probe(registry, sleeps, StaticKey(KEY))


def requests_counted(registry: CollectorRegistry, endpoint: str, code: str) -> float:
    value = registry.get_sample_value(
        API_REQUESTS.name,
        {"vercel_team": "prod", "api_endpoint": endpoint, "code": code},
    )
    return value or 0.0


# --- what is sent, and what is counted ----------------------------------------------------------


@respx.mock
async def test_the_key_travels_as_a_bearer_token_with_the_exporter_named(client: Probe) -> None:
    route = respx.get(f"{BASE}/v1/record").respond(json={"count": 3})
    assert await client.record("r1") == 3
    request = route.calls.last.request
    assert request.url.params["id"] == "r1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["accept"] == "application/json"


@respx.mock
async def test_without_a_key_source_no_credentials_are_sent(
    registry: CollectorRegistry, sleeps: Sleeps
) -> None:
    route = respx.get(f"{BASE}/v1/counts").respond(json={"count": 1})
    await probe(registry, sleeps, None).counts()
    assert "authorization" not in route.calls.last.request.headers


@respx.mock
async def test_key_file_rotation_is_picked_up(
    tmp_path: Path, registry: CollectorRegistry, sleeps: Sleeps
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("first-key-0123456789\n")
    client = probe(registry, sleeps, FileKey(key_file))
    route = respx.get(f"{BASE}/v1/counts").respond(json={"count": 1})
    await client.counts()
    key_file.write_text("second-key-0123456789-longer\n")
    await client.counts()
    seen = [c.request.headers["authorization"] for c in route.calls]
    assert seen == ["Bearer first-key-0123456789", "Bearer second-key-0123456789-longer"]


@respx.mock
@pytest.mark.parametrize(
    "base", [BASE, f"{BASE}/", "https://proxy.test/gateway", "https://proxy.test/gateway/"]
)
async def test_the_request_is_the_one_the_http_client_would_build(
    base: str, registry: CollectorRegistry, sleeps: Sleeps
) -> None:
    """ApiClient builds its requests itself (exporter/gateway/transport.py, not AsyncClient):
    the same URL below a path prefix, the same encoded parameters, the same timeouts."""
    client = Probe("prod", base, StaticKey(KEY), ApiMetrics(registry), timeout=7.0)
    route = respx.route(method="GET").respond(json={"count": 1})
    await client.record("r 1/ü&x=y+z")
    sent = route.calls.last.request
    reference = httpx.AsyncClient(base_url=base, timeout=7.0)
    expected = reference.build_request("GET", "/v1/record", params={"id": "r 1/ü&x=y+z"})
    assert sent.url == expected.url
    assert sent.extensions["timeout"] == expected.extensions["timeout"]


@respx.mock
async def test_success_is_counted_and_timed(client: Probe, registry: CollectorRegistry) -> None:
    respx.get(f"{BASE}/v1/counts").respond(json={"count": 1})
    await client.counts()
    assert requests_counted(registry, "counts", "200") == 1
    duration = f"{API_REQUEST_DURATION.name}_count"
    assert registry.get_sample_value(duration, {"api_endpoint": "counts"}) == 1


# --- refusals, and the inline retries -----------------------------------------------------------


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_credential_and_team_not_the_key(
    client: Probe, sleeps: Sleeps, status: int
) -> None:
    route = respx.get(f"{BASE}/v1/counts").respond(status, json=NESTED_401)
    with pytest.raises(AuthError) as caught:
        await client.counts()
    assert caught.value.message == (
        f"probe token rejected for team prod ({status}: {NESTED_401['error']['message']})"
    )
    assert KEY not in str(caught.value)
    assert route.call_count == 1, "an auth error is not retried inline"
    assert sleeps.waits == []


@respx.mock
async def test_429_retry_after_seconds_is_honoured(client: Probe, sleeps: Sleeps) -> None:
    respx.get(f"{BASE}/v1/counts").mock(
        side_effect=[
            httpx.Response(429, json=NESTED_429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"count": 1}),
        ]
    )
    await client.counts()
    assert sleeps.waits == [7.0]


@respx.mock
async def test_429_retry_after_http_date_is_honoured(client: Probe, sleeps: Sleeps) -> None:
    when = formatdate(FakeClock().time() + 4, usegmt=True)
    respx.get(f"{BASE}/v1/counts").mock(
        side_effect=[
            httpx.Response(429, json=NESTED_429, headers={"Retry-After": when}),
            httpx.Response(200, json={"count": 1}),
        ]
    )
    await client.counts()
    assert sleeps.waits == [pytest.approx(4.0, abs=1.0)]


@respx.mock
async def test_429_without_retry_after_backs_off_with_jitter(client: Probe, sleeps: Sleeps) -> None:
    respx.get(f"{BASE}/v1/counts").respond(429, json=NESTED_429)
    with pytest.raises(RateLimitedError) as caught:
        await client.counts()
    assert caught.value.retry_after is None
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.5 and 0 <= sleeps.waits[1] <= 1.0


@respx.mock
async def test_long_retry_after_is_left_to_the_next_poll(client: Probe, sleeps: Sleeps) -> None:
    route = respx.get(f"{BASE}/v1/counts").respond(
        429, json=NESTED_429, headers={"Retry-After": "120"}
    )
    with pytest.raises(RateLimitedError) as caught:
        await client.counts()
    assert caught.value.retry_after == 120
    assert route.call_count == 1 and sleeps.waits == []


@respx.mock
@pytest.mark.parametrize(
    ("status", "body"), [(500, NESTED_500), (503, NESTED_503), (408, None), (409, None)]
)
async def test_server_errors_retry_then_raise(
    client: Probe, registry: CollectorRegistry, status: int, body: object
) -> None:
    route = respx.get(f"{BASE}/v1/counts").respond(status, json=body)
    with pytest.raises(ServerError) as caught:
        await client.counts()
    assert route.call_count == 3
    assert caught.value.status == status
    assert requests_counted(registry, "counts", str(status)) == 3
    if body is not None:
        assert caught.value.message == body["error"]["message"]  # type: ignore[index]


@respx.mock
async def test_server_error_then_success(client: Probe) -> None:
    respx.get(f"{BASE}/v1/counts").mock(
        side_effect=[httpx.Response(503, json=NESTED_503), httpx.Response(200, json={"count": 2})]
    )
    assert await client.counts() == 2


@respx.mock
async def test_an_endpoint_not_retried_inline_is_tried_once(
    client: Probe, registry: CollectorRegistry, sleeps: Sleeps
) -> None:
    route = respx.get(f"{BASE}/v1/record").respond(503, json=NESTED_503)
    with pytest.raises(ServerError):
        await client.record("r1")
    assert route.call_count == 1 and sleeps.waits == []
    assert requests_counted(registry, "record", "503") == 1


@respx.mock
async def test_402_quota_exceeded_is_a_lasting_refusal(client: Probe, sleeps: Sleeps) -> None:
    body = {
        "error": {
            "message": 'Quota limit exceeded for "api_key_id_k9Xf2". Current spend: $10.00, '
            "limit: $10.00. Please contact your administrator to increase the quota.",
            "type": "quota_for_entity_exceeded",
        }
    }
    route = respx.get(f"{BASE}/v1/counts").respond(402, json=body)
    with pytest.raises(QuotaExceededError) as caught:
        await client.counts()
    assert caught.value.error_type == "quota_for_entity_exceeded"
    assert caught.value.message.startswith("Quota limit exceeded")
    assert caught.value.code == "402" and caught.value.persistent
    assert route.call_count == 1 and sleeps.waits == []


# --- both error envelopes -----------------------------------------------------------------------


@respx.mock
@pytest.mark.parametrize(
    ("body", "message", "error_type"),
    [
        (
            {"error": {"message": "Failed to retrieve usage data", "type": "internal_error"}},
            "Failed to retrieve usage data",
            "internal_error",
        ),
        (
            {"error": "Usage event not found", "message": "No usage event found with ID x"},
            "No usage event found with ID x",
            None,
        ),
        ({"error": "Invalid ID format. Expected format: gen_<ulid>"}, "Invalid ID format", None),
        ({"detail": "no envelope"}, "Bad Request", None),  # the reason phrase
    ],
    ids=["nested", "flat with message", "flat", "neither"],
)
async def test_either_envelope_gives_the_message_and_type(
    client: Probe, body: object, message: str, error_type: str | None
) -> None:
    respx.get(f"{BASE}/v1/record").respond(400, json=body)
    with pytest.raises(BadRequestError) as caught:
        await client.record("r1")
    assert caught.value.message.startswith(message)
    assert caught.value.error_type == error_type


@respx.mock
async def test_a_long_upstream_message_is_cut(client: Probe) -> None:
    respx.get(f"{BASE}/v1/record").respond(400, json={"error": "x" * 1000})
    with pytest.raises(BadRequestError) as caught:
        await client.record("r1")
    assert caught.value.message == "x" * 300


# --- answers that are not what the API sends ----------------------------------------------------


@respx.mock
@pytest.mark.parametrize(
    "body",
    [
        b'{"count": 1, total',  # malformed
        b'{"count": 1, "tot',  # truncated
        b'{"count": NaN}',
        b"",
        b'{"count": "one"}',  # valid JSON the parser refuses
    ],
)
async def test_unusable_bodies_are_invalid_responses(
    client: Probe, registry: CollectorRegistry, body: bytes
) -> None:
    route = respx.get(f"{BASE}/v1/counts").respond(200, content=body)
    with pytest.raises(InvalidResponseError):
        await client.counts()
    assert route.call_count == 1, "a bad answer is not retried inline"
    assert requests_counted(registry, "counts", "invalid_response") == 1


@respx.mock
async def test_timeout_is_a_transport_error(client: Probe, registry: CollectorRegistry) -> None:
    respx.get(f"{BASE}/v1/counts").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError) as caught:
        await client.counts()
    assert caught.value.code == "timeout"
    assert requests_counted(registry, "counts", "timeout") == 3


@respx.mock
async def test_connection_error_is_a_transport_error(
    client: Probe, registry: CollectorRegistry
) -> None:
    respx.get(f"{BASE}/v1/counts").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as caught:
        await client.counts()
    assert caught.value.message == "request failed: ConnectError"
    assert caught.value.code == "network_error"
    assert requests_counted(registry, "counts", "network_error") == 3


@respx.mock
@pytest.mark.parametrize(
    ("response", "code", "what"),
    [
        (
            httpx.Response(200, content=b"<html><body>Bad gateway</body></html>"),
            "invalid_response",
            "an HTML page",
        ),
        (
            httpx.Response(404, content=HTML_404, headers={"content-type": "text/html"}),
            "404",
            "an HTML page",
        ),
        (httpx.Response(404, json=NOT_FOUND_NESTED), "404", "no such path"),
        (httpx.Response(301, headers={"location": "https://vercel.com/"}), "301", "a redirect"),
    ],
    ids=["html page", "html 404", "json 404", "redirect"],
)
async def test_a_url_that_leads_elsewhere_names_the_url_option(
    client: Probe,
    registry: CollectorRegistry,
    sleeps: Sleeps,
    response: httpx.Response,
    code: str,
    what: str,
) -> None:
    route = respx.get(f"{BASE}/v1/counts").mock(return_value=response)
    with pytest.raises(MisdirectedError) as caught:
        await client.counts()
    assert caught.value.message == (
        f"probe.url {BASE} does not lead to the API: GET /v1/counts answered "
        f"{response.status_code} ({what}); expected a URL such as https://probe.example"
    )
    assert caught.value.code == code and caught.value.persistent
    assert route.call_count == 1 and sleeps.waits == [], "a wrong URL is not retried inline"
    assert requests_counted(registry, "counts", code) == 1


@respx.mock
async def test_a_404_means_no_such_record_only_where_the_api_says_so_and_only_in_json(
    client: Probe,
) -> None:
    route = respx.get(f"{BASE}/v1/record").mock(
        side_effect=[
            httpx.Response(404, json=NOT_FOUND_NESTED),
            httpx.Response(404, content=HTML_404, headers={"content-type": "text/html"}),
        ]
    )
    with pytest.raises(NotFoundError) as caught:
        await client.record("r1")
    assert caught.value.message == "Not found" and not caught.value.persistent
    with pytest.raises(MisdirectedError):
        await client.record("r1")
    assert route.call_count == 2


class Trickle(httpx.AsyncByteStream):
    """An answer that sends its first byte and then nothing more, ever: each read would
    wait forever, so only a deadline on the whole request ends it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.Event().wait()


async def test_a_trickling_answer_is_cut_at_the_timeout_in_all(
    registry: CollectorRegistry,
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=Trickle()))
    client = Probe(
        "prod", BASE, StaticKey(KEY), ApiMetrics(registry), timeout=0.2, transport=transport
    )
    with pytest.raises(TransportError) as caught:
        await asyncio.wait_for(client.record("r1"), timeout=60)  # before: never answered
    assert caught.value.code == "timeout"
    assert requests_counted(registry, "record", "timeout") == 1


@respx.mock
async def test_a_key_quoted_near_the_end_of_a_long_error_is_masked_before_the_cut(
    client: Probe,
) -> None:
    """Cut first, the key lost its tail and no longer matched the mask: 22 of 34 characters
    of it reached the log and the landing page."""
    quoted = "x" * 280 + f" key {KEY} was refused"  # the cut at 300 falls inside the key
    respx.get(f"{BASE}/v1/record").respond(400, json={"error": {"message": quoted}})
    with pytest.raises(BadRequestError) as caught:
        await client.record("r1")
    assert KEY[:8] not in str(caught.value)


@respx.mock
async def test_a_large_answer_is_parsed_off_the_event_loop(client: Probe) -> None:
    """A 50,000-model catalog took 5.8 s to parse on the loop that answers scrapes."""
    threads: list[threading.Thread] = []

    def recording(body: object) -> int:
        threads.append(threading.current_thread())
        return parse_count(body)

    padded = {"count": 3, "pad": "x" * OFF_LOOP_BYTES}
    respx.get(f"{BASE}/v1/counts").respond(200, content=json.dumps(padded).encode())
    respx.get(f"{BASE}/v1/record").respond(200, json={"count": 4})
    assert await client._get("counts", "/v1/counts", recording, retried=False) == 3
    assert await client._get("record", "/v1/record", recording, retried=False) == 4
    assert threads[0] is not threading.main_thread(), "the large one in a thread"
    assert threads[1] is threading.main_thread(), "a small one on the loop"
