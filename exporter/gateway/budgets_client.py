"""The AI Gateway budgets list from the Vercel REST API (``https://api.vercel.com``).

It lives on another host than the gateway and takes a Vercel access token (gateway keys are
refused there), but it is counted, timed and retried exactly like the gateway's endpoints (the
same ApiClient), so the API request counter with ``api_endpoint="budgets"`` tells the same story.
"""

from __future__ import annotations

from exporter.gateway.api import ApiClient
from exporter.gateway.budgets_models import BudgetList, parse_budgets

LIST_PATH = "/ai-gateway/budgets/list"


class BudgetsClient(ApiClient):
    """One team's budgets, read with that team's Vercel access token."""

    credential = "Vercel access token"
    url_option = "budgets.url"
    url_example = "https://api.vercel.com"

    async def budgets(self, team_id: str) -> BudgetList:
        """Every budget of the team, retried with backoff on transient errors (it is free)."""
        return await self._get(
            "budgets", LIST_PATH, parse_budgets, params={"teamId": team_id}, retried=True
        )
