"""CatalogClient's two routes, with respx standing in for HTTP: the paths it builds, that it
retries inline and counts for no team, and what a 404 means on each. The answers' parsing is
test_catalog_models.py's, what every client shares test_api_client.py's."""

from __future__ import annotations

import httpx
import pytest
import respx
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.gateway.catalog_client import CatalogClient, endpoints_path
from exporter.gateway.errors import InvalidResponseError, MisdirectedError, NotFoundError
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import API_REQUESTS, ApiMetrics

BASE = "https://gateway.test"
MODEL = "anthropic/claude-haiku-4.5"


def test_endpoint_paths_quote_each_part_and_refuse_other_shapes() -> None:
    assert endpoints_path("openai/gpt-5.4") == "/v1/models/openai/gpt-5.4/endpoints"
    assert endpoints_path("a b/c?d") == "/v1/models/a%20b/c%3Fd/endpoints"
    for bad in ("gpt-4", "/x", "x/", "a/b/c", "a/../../v1/credits", "../credits", "a/."):
        assert endpoints_path(bad) is None, bad


def client(registry: CollectorRegistry) -> CatalogClient:
    return CatalogClient(
        "",
        BASE,
        None,
        ApiMetrics(registry),
        retry=RetryPolicy(base=0),  # retries without waiting
        clock=FakeClock(),
    )


@respx.mock
async def test_both_routes_are_retried_inline_and_counted_for_no_team() -> None:
    models = respx.get(f"{BASE}/v1/models").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"data": [{"id": MODEL}]})]
    )
    endpoints = respx.get(f"{BASE}/v1/models/{MODEL}/endpoints").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json={"data": {"endpoints": [{"provider_name": "anthropic"}]}}),
        ]
    )
    registry = CollectorRegistry()
    catalog = client(registry)
    assert [m.id for m in (await catalog.models()).models] == [MODEL]
    (endpoint,) = await catalog.endpoints(MODEL)
    assert endpoint.provider == "anthropic"
    assert models.call_count == endpoints.call_count == 2, "free, so retried inline"
    for endpoint_label in ("models", "model_endpoints"):
        for code in ("503", "200"):
            labels = {"vercel_team": "", "api_endpoint": endpoint_label, "code": code}
            assert registry.get_sample_value(API_REQUESTS.name, labels) == 1
    await catalog.aclose()


@respx.mock
async def test_an_unlisted_model_is_not_found_and_a_bad_id_never_leaves() -> None:
    respx.get(f"{BASE}/v1/models/a/b/endpoints").mock(
        return_value=httpx.Response(
            404, json={"error": {"message": "Model not found", "type": "model_not_found"}}
        )
    )
    catalog = client(CollectorRegistry())
    with pytest.raises(NotFoundError):
        await catalog.endpoints("a/b")
    with pytest.raises(InvalidResponseError, match="is not creator/model"):
        await catalog.endpoints("../credits")
    assert len(respx.calls) == 1
    await catalog.aclose()


@respx.mock
async def test_a_models_404_names_gateway_url() -> None:
    respx.get(f"{BASE}/v1/models").respond(404, json={"error": {"message": "Not found"}})
    catalog = client(CollectorRegistry())
    with pytest.raises(MisdirectedError) as caught:
        await catalog.models()
    assert caught.value.message.startswith(f"gateway.url {BASE} does not lead to the API")
    assert caught.value.message.endswith("expected a URL such as https://ai-gateway.vercel.sh")
    await catalog.aclose()
