"""BudgetsClient's one endpoint, with respx standing in for the Vercel API: what it sends, that
it retries inline, and the names in its messages. The entries' parsing is test_budgets.py's,
what every client shares test_api_client.py's."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.gateway.budgets_client import BudgetsClient
from exporter.gateway.errors import AuthError, MisdirectedError
from exporter.gateway.keys import StaticKey
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import API_REQUESTS, ApiMetrics

BASE = "https://vercel.test"
TOKEN = "vercel-test-token-0123456789"
BUDGET = {"scopeType": "team", "scopeId": "team_abc", "limitAmount": 500, "currentSpend": 120.5}


def budgets_client(registry: CollectorRegistry) -> BudgetsClient:
    return BudgetsClient(
        "prod",
        BASE,
        StaticKey(TOKEN),
        ApiMetrics(registry),
        retry=RetryPolicy(base=0),  # retries without waiting
        clock=FakeClock(),
    )


@respx.mock
async def test_the_list_is_asked_for_the_team_id_and_retried_inline() -> None:
    route = respx.get(f"{BASE}/ai-gateway/budgets/list").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"budgets": [BUDGET]})]
    )
    registry = CollectorRegistry()
    (budget,) = (await budgets_client(registry).budgets("team_abc")).budgets
    assert budget.scope == "team_abc"
    assert (budget.limit, budget.spend) == (Decimal(500), Decimal("120.5"))
    assert route.call_count == 2, "free, so a transient error is retried inline"
    request = route.calls.last.request
    assert request.url.params["teamId"] == "team_abc"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    labels = {"vercel_team": "prod", "api_endpoint": "budgets", "code": "200"}
    assert registry.get_sample_value(API_REQUESTS.name, labels) == 1


@respx.mock
async def test_a_refused_token_is_named_a_vercel_access_token() -> None:
    respx.get(f"{BASE}/ai-gateway/budgets/list").respond(
        403, json={"error": {"code": "forbidden", "message": "Not authorized"}}
    )
    with pytest.raises(AuthError) as caught:
        await budgets_client(CollectorRegistry()).budgets("team_abc")
    expected = "Vercel access token rejected for team prod (403: Not authorized)"
    assert caught.value.message == expected


@respx.mock
async def test_any_404_names_budgets_url() -> None:
    respx.get(f"{BASE}/ai-gateway/budgets/list").respond(
        404, json={"error": {"code": "not_found", "message": "Not found"}}
    )
    with pytest.raises(MisdirectedError) as caught:
        await budgets_client(CollectorRegistry()).budgets("team_abc")
    assert caught.value.message.startswith(f"budgets.url {BASE} does not lead to the API")
    assert caught.value.message.endswith("expected a URL such as https://api.vercel.com")
