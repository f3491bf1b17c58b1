"""The AI Gateway budgets list from the Vercel REST API (``https://api.vercel.com``).

It lives on another host than the gateway and takes a Vercel access token (gateway keys are
refused there), but it is counted, timed and retried exactly like the gateway's endpoints, so
the API request counter with ``api_endpoint="budgets"`` tells the same story.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exporter.gateway.client import GatewayClient
from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import to_decimal

LIST_PATH = "/ai-gateway/budgets/list"


@dataclass(frozen=True)
class Budget:
    scope_type: str  # team, project, user or api-key
    scope: str  # scopeId (quotaEntityId when absent)
    name: str  # "" when the budget has none
    refresh_period: str  # daily, weekly, monthly or none
    limit: Decimal
    spend: Decimal
    byok_spend: Decimal | None
    active: bool
    archived: bool

    @property
    def published(self) -> bool:
        """Archived or inactive budgets limit nothing, so they are not shown."""
        return self.active and not self.archived


def _text(entry: dict[str, object], *names: str) -> str | None:
    for name in names:
        value = entry.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _budget(entry: object) -> Budget | None:
    if not isinstance(entry, dict):
        return None
    scope_type = _text(entry, "scopeType")
    scope = _text(entry, "scopeId", "quotaEntityId")
    limit, spend = to_decimal(entry.get("limitAmount")), to_decimal(entry.get("currentSpend"))
    active, archived = entry.get("active", True), entry.get("archived", False)
    if (
        scope_type is None
        or scope is None
        or limit is None
        or spend is None
        or not isinstance(active, bool)
        or not isinstance(archived, bool)
    ):
        return None
    name = entry.get("name")
    return Budget(
        scope_type=scope_type,
        scope=scope,
        name=name if isinstance(name, str) else "",
        refresh_period=_text(entry, "refreshPeriod") or "none",
        limit=limit,
        spend=spend,
        byok_spend=to_decimal(entry.get("currentByokSpend")),
        active=active,
        archived=archived,
    )


def parse_budgets(body: object) -> list[Budget]:
    """``{"budgets": [Budget, ...]}`` (a missing or null list is empty, as the Vercel CLI reads
    it). An entry without a scope, limit or spend is skipped rather than failing the others:
    budgets are independent of each other."""
    if not isinstance(body, dict):
        raise InvalidResponseError("budgets: expected a JSON object")
    entries = body.get("budgets")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise InvalidResponseError('budgets: expected {"budgets": [...]}')
    return [budget for budget in map(_budget, entries) if budget is not None]


class BudgetsClient(GatewayClient):
    """One team's budgets, read with that team's Vercel access token."""

    credential = "Vercel access token"

    async def budgets(self, team_id: str) -> list[Budget]:
        """Every budget of the team, retried with backoff on transient errors (it is free)."""
        return await self._retry.run(
            lambda: self._call("budgets", LIST_PATH, {"teamId": team_id}, parse_budgets)
        )
