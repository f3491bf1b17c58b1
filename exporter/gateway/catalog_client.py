"""The public model catalog's two routes: ``GET /v1/models`` and
``GET /v1/models/{creator}/{model}/endpoints``. Both are free and need no key, so the client
sends none and retries inline; it reads the catalog for no team.
"""

from __future__ import annotations

from urllib.parse import quote

from exporter.gateway.api import ApiClient
from exporter.gateway.catalog_models import (
    ModelList,
    ProviderEndpoint,
    parse_endpoints,
    parse_models,
)
from exporter.gateway.client import GatewayClient
from exporter.gateway.errors import InvalidResponseError


def endpoints_path(model_id: str) -> str | None:
    """``/v1/models/{creator}/{model}/endpoints``, or None for an ID not of that form. Each
    part is quoted, and a dot segment refused: ``../credits`` would leave the route."""
    creator, sep, name = model_id.partition("/")
    if not sep or "/" in name or {creator, name} & {"", ".", ".."}:
        return None
    return f"/v1/models/{quote(creator, safe='')}/{quote(name, safe='')}/endpoints"


class CatalogClient(ApiClient):
    """The catalog, read without a key and for no team: one client per exporter."""

    credential = "a request without a key"
    # Served at the gateway's own URL, so a wrong one names the same option.
    url_option = GatewayClient.url_option
    url_example = GatewayClient.url_example
    # A model the catalog does not list answers a JSON 404: not found, not a wrong URL.
    not_found_endpoints = frozenset({"model_endpoints"})

    async def models(self) -> ModelList:
        """Every model with its prices, retried with backoff on transient errors (it is free)."""
        return await self._get("models", "/v1/models", parse_models, retried=True)

    async def endpoints(self, model_id: str) -> list[ProviderEndpoint]:
        """The providers serving one model, retried like ``models``."""
        path = endpoints_path(model_id)
        if path is None:
            raise InvalidResponseError(f"endpoints: {model_id!r} is not creator/model")
        return await self._get("model_endpoints", path, parse_endpoints, retried=True)
