"""The AI Gateway's own endpoints, for one team with its own key: credits, generation lookups
and Custom Reporting. Transport, metrics, errors and retries are ApiClient's; here each
endpoint says whether it is retried inline: credits are, generation lookups retry through the
durable queue instead, and every report query is billed, so the reports poller decides.
"""

from __future__ import annotations

from collections.abc import Mapping

from exporter.gateway.api import ApiClient
from exporter.gateway.models import (
    Credits,
    Generation,
    ReportRow,
    parse_credits,
    parse_generation,
    parse_report,
)


class GatewayClient(ApiClient):
    """The gateway as seen by one team."""

    credential = "API key"
    url_option = "gateway.url"
    url_example = "https://ai-gateway.vercel.sh"
    not_found_endpoints = frozenset({"generation"})

    async def credits(self) -> Credits:
        """The team's balance and lifetime spend, retried with backoff on transient errors."""
        return await self._get("credits", "/v1/credits", parse_credits, retried=True)

    async def generation(self, generation_id: str) -> Generation:
        """One generation's record, in a single attempt (404 means: not recorded yet)."""
        return await self._get(
            "generation",
            "/v1/generation",
            parse_generation,
            params={"id": generation_id},
            retried=False,
        )

    async def report(self, params: Mapping[str, str], group_field: str) -> list[ReportRow]:
        """One Custom Reporting query, in a single attempt: every query is billed, so the
        reports poller decides if and when to try again."""
        return await self._get(
            "report",
            "/v1/report",
            lambda body: parse_report(body, group_field),
            params=params,
            retried=False,
        )
