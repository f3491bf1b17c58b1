"""GatewayClient against every fixture shape of the reference, with respx standing in for HTTP."""

from __future__ import annotations

from decimal import Decimal
from email.utils import formatdate

import httpx
import pytest
import respx
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.gateway.client import GatewayClient
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
from exporter.gateway.keys import StaticKey
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import API_REQUEST_DURATION, API_REQUESTS, ApiMetrics

BASE = "https://gateway.test"
KEY = "sk-test-client-0123456789"
GEN_ID = "gen_01KZ9QW3E5R7T9Y1V3J5P7Q9A2"

NESTED_401 = {
    "error": {
        "message": "Authentication failed. Invalid API key or OIDC token.",
        "type": "authentication_error",
    }
}
NESTED_429 = {"error": {"message": "Rate limit exceeded", "type": "rate_limit_exceeded"}}
NESTED_500 = {"error": {"message": "Internal server error", "type": "internal_server_error"}}
NESTED_503 = {"error": {"message": "Service unavailable", "type": "internal_server_error"}}
FLAT_404 = {
    "error": "Usage event not found",
    "id": GEN_ID,
    "message": f"No usage event found with ID {GEN_ID}",
}
FLAT_400 = {"error": "Invalid generation ID format. Expected format: gen_<ulid>"}
GENERATION = {
    "data": {
        "id": GEN_ID,
        "total_cost": 0.00842,
        "upstream_inference_cost": 0,
        "usage": 0.00842,
        "created_at": "2026-08-20T14:03:11.000Z",
        "model": "anthropic/claude-sonnet-4.6",
        "is_byok": False,
        "provider_name": "anthropic",
        "streamed": True,
        "finish_reason": "stop",
        "latency": 612,
        "generation_time": 4381,
        "tokens_prompt": 1834,
        "tokens_completion": 412,
        "native_tokens_prompt": 1834,
        "native_tokens_completion": 412,
        "native_tokens_reasoning": 0,
        "native_tokens_cached": 1200,
        "native_tokens_cache_creation": 0,
        "billable_web_search_calls": 0,
    }
}


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


@pytest.fixture
def client(registry: CollectorRegistry, sleeps: Sleeps) -> GatewayClient:
    return GatewayClient(
        "prod",
        BASE,
        StaticKey(KEY),
        ApiMetrics(registry),
        retry=RetryPolicy(attempts=3, sleep=sleeps),
        clock=FakeClock(),
    )


def requests_counted(registry: CollectorRegistry, endpoint: str, code: str) -> float:
    value = registry.get_sample_value(
        API_REQUESTS.name,
        {"vercel_team": "prod", "api_endpoint": endpoint, "code": code},
    )
    return value or 0.0


@respx.mock
async def test_credits_string_decimals_are_exact(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/credits").respond(
        json={"balance": "87.31254210", "total_used": "12.68745790"}
    )
    credits = await client.credits()
    assert credits.balance == Decimal("87.31254210")
    assert credits.total_used == Decimal("12.68745790")
    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


@respx.mock
async def test_credits_json_numbers_are_exact(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").respond(
        content=b'{"balance": 4.99999992, "total_used": 0.00000008}',
        headers={"content-type": "application/json"},
    )
    credits = await client.credits()
    assert credits.balance == Decimal("4.99999992")
    assert credits.total_used == Decimal("0.00000008")


@respx.mock
async def test_credits_no_card_on_file(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").respond(json={"balance": "0", "total_used": "0"})
    credits = await client.credits()
    assert (credits.balance, credits.total_used) == (Decimal(0), Decimal(0))


@respx.mock
async def test_success_is_counted_and_timed(
    client: GatewayClient, registry: CollectorRegistry
) -> None:
    respx.get(f"{BASE}/v1/credits").respond(json={"balance": "1", "total_used": "2"})
    await client.credits()
    assert requests_counted(registry, "credits", "200") == 1
    duration = f"{API_REQUEST_DURATION.name}_count"
    assert registry.get_sample_value(duration, {"api_endpoint": "credits"}) == 1


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_team_not_the_key(
    client: GatewayClient, sleeps: Sleeps, status: int
) -> None:
    route = respx.get(f"{BASE}/v1/credits").respond(status, json=NESTED_401)
    with pytest.raises(AuthError) as caught:
        await client.credits()
    assert caught.value.message.startswith(f"API key rejected for team prod ({status}:")
    assert KEY not in str(caught.value)
    assert route.call_count == 1, "an auth error is not retried inline"
    assert sleeps.waits == []


@respx.mock
async def test_429_retry_after_seconds_is_honoured(client: GatewayClient, sleeps: Sleeps) -> None:
    respx.get(f"{BASE}/v1/credits").mock(
        side_effect=[
            httpx.Response(429, json=NESTED_429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"balance": "1", "total_used": "2"}),
        ]
    )
    await client.credits()
    assert sleeps.waits == [7.0]


@respx.mock
async def test_429_retry_after_http_date_is_honoured(client: GatewayClient, sleeps: Sleeps) -> None:
    when = formatdate(FakeClock().time() + 4, usegmt=True)
    respx.get(f"{BASE}/v1/credits").mock(
        side_effect=[
            httpx.Response(429, json=NESTED_429, headers={"Retry-After": when}),
            httpx.Response(200, json={"balance": "1", "total_used": "2"}),
        ]
    )
    await client.credits()
    assert sleeps.waits == [pytest.approx(4.0, abs=1.0)]


@respx.mock
async def test_429_without_retry_after_backs_off_with_jitter(
    client: GatewayClient, sleeps: Sleeps
) -> None:
    respx.get(f"{BASE}/v1/credits").respond(429, json=NESTED_429)
    with pytest.raises(RateLimitedError) as caught:
        await client.credits()
    assert caught.value.retry_after is None
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.5 and 0 <= sleeps.waits[1] <= 1.0


@respx.mock
async def test_long_retry_after_is_left_to_the_next_poll(
    client: GatewayClient, sleeps: Sleeps
) -> None:
    route = respx.get(f"{BASE}/v1/credits").respond(
        429, json=NESTED_429, headers={"Retry-After": "120"}
    )
    with pytest.raises(RateLimitedError) as caught:
        await client.credits()
    assert caught.value.retry_after == 120
    assert route.call_count == 1 and sleeps.waits == []


@respx.mock
@pytest.mark.parametrize(
    ("status", "body"), [(500, NESTED_500), (503, NESTED_503), (408, None), (409, None)]
)
async def test_server_errors_retry_then_raise(
    client: GatewayClient, registry: CollectorRegistry, status: int, body: object
) -> None:
    route = respx.get(f"{BASE}/v1/credits").respond(status, json=body)
    with pytest.raises(ServerError) as caught:
        await client.credits()
    assert route.call_count == 3
    assert caught.value.status == status
    assert requests_counted(registry, "credits", str(status)) == 3
    if body is not None:
        assert caught.value.message == body["error"]["message"]  # type: ignore[index]


@respx.mock
async def test_server_error_then_success(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").mock(
        side_effect=[
            httpx.Response(503, json=NESTED_503),
            httpx.Response(200, json={"balance": "3.5", "total_used": "1"}),
        ]
    )
    assert (await client.credits()).balance == Decimal("3.5")


@respx.mock
@pytest.mark.parametrize(
    "body",
    [
        b'{"balance": "12.5", total_used',  # malformed
        b'{"balance": "12.5", "total_u',  # truncated
        b'{"balance": NaN, "total_used": "1"}',
        b'{"balance": null, "total_used": "1"}',
        b'{"balance": true, "total_used": "1"}',
        b'{"total_used": "1"}',
        b'{"balance": "abc", "total_used": "1"}',
        b'["balance"]',
        b"",
    ],
)
async def test_unusable_bodies_are_invalid_responses(
    client: GatewayClient, registry: CollectorRegistry, body: bytes
) -> None:
    respx.get(f"{BASE}/v1/credits").respond(200, content=body)
    with pytest.raises(InvalidResponseError):
        await client.credits()
    assert requests_counted(registry, "credits", "invalid_response") == 1


@respx.mock
async def test_timeout_is_a_transport_error(
    client: GatewayClient, registry: CollectorRegistry
) -> None:
    respx.get(f"{BASE}/v1/credits").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransportError) as caught:
        await client.credits()
    assert caught.value.code == "timeout"
    assert requests_counted(registry, "credits", "timeout") == 3


@respx.mock
async def test_connection_error_is_a_transport_error(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as caught:
        await client.credits()
    assert caught.value.code == "network_error"


@respx.mock
async def test_generation_record_parses(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/generation").respond(json=GENERATION)
    gen = await client.generation(GEN_ID)
    assert route.calls.last.request.url.params["id"] == GEN_ID
    assert gen.total_cost == Decimal("0.00842")
    assert gen.latency_ms == 612 and gen.native_tokens_cached == 1200
    assert gen.model == "anthropic/claude-sonnet-4.6" and gen.streamed is True
    assert gen.invalid_fields == ()


@respx.mock
async def test_generation_404_flat_envelope_is_not_found(
    client: GatewayClient, sleeps: Sleeps
) -> None:
    route = respx.get(f"{BASE}/v1/generation").respond(404, json=FLAT_404)
    with pytest.raises(NotFoundError) as caught:
        await client.generation(GEN_ID)
    assert caught.value.message == f"No usage event found with ID {GEN_ID}"
    assert route.call_count == 1 and sleeps.waits == [], "the queue retries lookups, not the client"


@respx.mock
async def test_generation_400_flat_envelope(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/generation").respond(400, json=FLAT_400)
    with pytest.raises(BadRequestError) as caught:
        await client.generation(GEN_ID)
    assert "Invalid generation ID format" in caught.value.message


@respx.mock
async def test_generation_nested_errors(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/generation").respond(
        500,
        json={
            "error": {"message": "Failed to retrieve usage data", "type": "internal_server_error"}
        },
    )
    with pytest.raises(ServerError) as caught:
        await client.generation(GEN_ID)
    assert caught.value.message == "Failed to retrieve usage data"
    assert caught.value.error_type == "internal_server_error"


@respx.mock
async def test_key_file_rotation_is_picked_up(tmp_path, registry: CollectorRegistry) -> None:  # type: ignore[no-untyped-def]
    from exporter.gateway.keys import FileKey

    key_file = tmp_path / "key"
    key_file.write_text("first-key-0123456789\n")
    client = GatewayClient("prod", BASE, FileKey(key_file), ApiMetrics(registry))
    route = respx.get(f"{BASE}/v1/credits").respond(json={"balance": "1", "total_used": "1"})
    await client.credits()
    key_file.write_text("second-key-0123456789-longer\n")
    await client.credits()
    seen = [c.request.headers["authorization"] for c in route.calls]
    assert seen == ["Bearer first-key-0123456789", "Bearer second-key-0123456789-longer"]


# --- a URL that leads somewhere else, a budget that blocks the key ------------------------------

HTML_404 = b"<!DOCTYPE html><html><body><h1>404: This page could not be found</h1></body></html>"
NOT_FOUND_NESTED = {"error": {"message": "Not found", "type": "not_found_error"}}


@respx.mock
@pytest.mark.parametrize(
    ("response", "code"),
    [
        (httpx.Response(200, content=b"<html><body>Bad gateway</body></html>"), "invalid_response"),
        (httpx.Response(404, content=HTML_404, headers={"content-type": "text/html"}), "404"),
        (httpx.Response(404, json=NOT_FOUND_NESTED), "404"),  # /v1/v1/credits: no such path
        (httpx.Response(301, headers={"location": "https://vercel.com/"}), "301"),
    ],
    ids=["html page", "html 404", "json 404", "redirect"],
)
async def test_credits_that_lead_nowhere_name_the_url_option(
    client: GatewayClient,
    registry: CollectorRegistry,
    sleeps: Sleeps,
    response: httpx.Response,
    code: str,
) -> None:
    route = respx.get(f"{BASE}/v1/credits").mock(return_value=response)
    with pytest.raises(MisdirectedError) as caught:
        await client.credits()
    message = caught.value.message
    assert message.startswith(f"gateway.url {BASE} does not lead to the API: GET /v1/credits")
    assert "https://ai-gateway.vercel.sh" in message
    assert caught.value.code == code and caught.value.persistent
    assert route.call_count == 1 and sleeps.waits == [], "a wrong URL is not retried inline"
    assert requests_counted(registry, "credits", code) == 1


@respx.mock
async def test_a_generation_404_is_pending_only_in_json(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/generation").respond(
        404, content=HTML_404, headers={"content-type": "text/html; charset=utf-8"}
    )
    with pytest.raises(MisdirectedError):
        await client.generation(GEN_ID)


@respx.mock
async def test_402_quota_exceeded_is_a_lasting_refusal(
    client: GatewayClient, sleeps: Sleeps
) -> None:
    body = {
        "error": {
            "message": 'Quota limit exceeded for "api_key_id_k9Xf2". Current spend: $10.00, '
            "limit: $10.00. Please contact your administrator to increase the quota.",
            "type": "quota_for_entity_exceeded",
        }
    }
    route = respx.get(f"{BASE}/v1/credits").respond(402, json=body)
    with pytest.raises(QuotaExceededError) as caught:
        await client.credits()
    assert caught.value.error_type == "quota_for_entity_exceeded"
    assert caught.value.message.startswith("Quota limit exceeded")
    assert caught.value.code == "402" and caught.value.persistent
    assert route.call_count == 1 and sleeps.waits == []
