"""GatewayClient's own endpoints against the reference's fixture shapes, with respx standing in
for HTTP: what each sends, parses and retries, and the names in its messages. What every client
shares (errors, retries, metrics) is tested once, in test_api_client.py."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.gateway.client import GatewayClient
from exporter.gateway.errors import (
    AuthError,
    InvalidResponseError,
    MisdirectedError,
    NotFoundError,
    ServerError,
)
from exporter.gateway.keys import StaticKey
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import API_REQUESTS, ApiMetrics

BASE = "https://gateway.test"
KEY = "sk-test-client-0123456789"
GEN_ID = "gen_01KZ9QW3E5R7T9Y1V3J5P7Q9A2"

NESTED_401 = {
    "error": {
        "message": "Authentication failed. Invalid API key or OIDC token.",
        "type": "authentication_error",
    }
}
NESTED_503 = {"error": {"message": "Service unavailable", "type": "internal_server_error"}}
FLAT_404 = {
    "error": "Usage event not found",
    "id": GEN_ID,
    "message": f"No usage event found with ID {GEN_ID}",
}
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


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def client(registry: CollectorRegistry) -> GatewayClient:
    return GatewayClient(
        "prod",
        BASE,
        StaticKey(KEY),
        ApiMetrics(registry),
        retry=RetryPolicy(base=0),  # retries without waiting
        clock=FakeClock(),
    )


def requests_counted(registry: CollectorRegistry, endpoint: str, code: str) -> float:
    value = registry.get_sample_value(
        API_REQUESTS.name,
        {"vercel_team": "prod", "api_endpoint": endpoint, "code": code},
    )
    return value or 0.0


# --- GET /v1/credits ----------------------------------------------------------------------------


@respx.mock
async def test_credits_string_decimals_are_exact(
    client: GatewayClient, registry: CollectorRegistry
) -> None:
    respx.get(f"{BASE}/v1/credits").respond(
        json={"balance": "87.31254210", "total_used": "12.68745790"}
    )
    credits = await client.credits()
    assert credits.balance == Decimal("87.31254210")
    assert credits.total_used == Decimal("12.68745790")
    assert requests_counted(registry, "credits", "200") == 1


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
@pytest.mark.parametrize(
    "body",
    [
        b'{"balance": null, "total_used": "1"}',
        b'{"balance": true, "total_used": "1"}',
        b'{"total_used": "1"}',
        b'{"balance": "abc", "total_used": "1"}',
        b'["balance"]',
    ],
)
async def test_credits_without_a_usable_balance_are_invalid_responses(
    client: GatewayClient, registry: CollectorRegistry, body: bytes
) -> None:
    respx.get(f"{BASE}/v1/credits").respond(200, content=body)
    with pytest.raises(InvalidResponseError):
        await client.credits()
    assert requests_counted(registry, "credits", "invalid_response") == 1


@respx.mock
async def test_credits_are_retried_inline(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/credits").mock(
        side_effect=[
            httpx.Response(503, json=NESTED_503),
            httpx.Response(200, json={"balance": "3.5", "total_used": "1"}),
        ]
    )
    assert (await client.credits()).balance == Decimal("3.5")
    assert route.call_count == 2


@respx.mock
async def test_a_refused_key_is_named_an_api_key(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").respond(401, json=NESTED_401)
    with pytest.raises(AuthError) as caught:
        await client.credits()
    assert caught.value.message.startswith("API key rejected for team prod (401:")


@respx.mock
async def test_credits_that_lead_nowhere_name_gateway_url(client: GatewayClient) -> None:
    respx.get(f"{BASE}/v1/credits").respond(404, json={"error": {"message": "Not found"}})
    with pytest.raises(MisdirectedError) as caught:
        await client.credits()
    message = caught.value.message
    assert message.startswith(f"gateway.url {BASE} does not lead to the API: GET /v1/credits")
    assert message.endswith("expected a URL such as https://ai-gateway.vercel.sh")


# --- GET /v1/generation -------------------------------------------------------------------------


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
async def test_generation_404_flat_envelope_is_not_found(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/generation").respond(404, json=FLAT_404)
    with pytest.raises(NotFoundError) as caught:
        await client.generation(GEN_ID)
    assert caught.value.message == f"No usage event found with ID {GEN_ID}"
    assert route.call_count == 1


@respx.mock
async def test_generation_lookups_are_not_retried_inline(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/generation").respond(503, json=NESTED_503)
    with pytest.raises(ServerError):
        await client.generation(GEN_ID)
    assert route.call_count == 1, "the queue retries lookups, not the client"


# --- GET /v1/report -----------------------------------------------------------------------------


@respx.mock
async def test_a_report_sends_the_query_and_reads_rows_by_the_group_field(
    client: GatewayClient, registry: CollectorRegistry
) -> None:
    route = respx.get(f"{BASE}/v1/report").respond(
        json={"results": [{"model": "openai/gpt-5.4", "total_cost": "1.25", "request_count": 3}]}
    )
    query = {"start_date": "2026-08-20", "end_date": "2026-08-20", "group_by": "model"}
    (row,) = await client.report(query, "model")
    assert dict(route.calls.last.request.url.params) == query
    assert row.group == "openai/gpt-5.4"
    assert row.values == {"total_cost": Decimal("1.25"), "request_count": Decimal(3)}
    assert requests_counted(registry, "report", "200") == 1


@respx.mock
async def test_a_report_is_not_retried_inline(client: GatewayClient) -> None:
    route = respx.get(f"{BASE}/v1/report").respond(503, json=NESTED_503)
    with pytest.raises(ServerError):
        await client.report({"group_by": "model"}, "model")
    assert route.call_count == 1, "every query is billed: the reports poller decides"
