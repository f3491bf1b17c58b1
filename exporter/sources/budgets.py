"""AI Gateway budgets: a poller per team (Vercel budgets API) and the collector of their gauges.

Optional: only teams with a ``budgets`` section (a Vercel access token and the team's ID) are
polled. Archived and inactive budgets are left out, since they limit nothing. The list is
free to read, so it is retried inline like credits; a scrape only reads the last answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import BudgetsConfig, ConfigError
from exporter.gateway.budgets_client import Budget, BudgetsClient
from exporter.gateway.errors import AuthError, GatewayError
from exporter.gateway.keys import FileKey
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import ApiMetrics, name
from exporter.teams import Team

log = logging.getLogger(__name__)

JITTER = 0.1
LABELS = ["team", "scope_type", "scope", "name", "refresh_period"]


class TeamBudgets:
    """The team's budgets as last listed (None before the first success)."""

    def __init__(self, team: str, config: BudgetsConfig) -> None:
        self.team = team
        self.config = config
        self.budgets: list[Budget] | None = None


class BudgetsPoller:
    """Lists one team's budgets every interval (with jitter), forever."""

    def __init__(
        self,
        client: BudgetsClient,
        state: TeamBudgets,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._state = state
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._auth_failing = False

    async def run(self) -> None:
        while True:
            await self._clock.sleep(await self.refresh())

    async def refresh(self) -> float:
        """One listing (with inline retries); returns the seconds until the next."""
        state = self._state
        delay = state.config.interval * self._rng.uniform(1 - JITTER, 1 + JITTER)
        try:
            state.budgets = await self._client.budgets(state.config.team_id)
        except GatewayError as exc:
            # An auth failure is logged loudly once; every interval would bury everything else.
            loud = not (isinstance(exc, AuthError) and self._auth_failing)
            self._auth_failing = isinstance(exc, AuthError)
            log.log(
                logging.WARNING if loud else logging.DEBUG,
                "budgets refresh failed",
                extra={"team": state.team, "code": exc.code, "error": exc.message},
            )
            if exc.retry_after is not None:
                delay = max(delay, exc.retry_after)
        else:
            self._auth_failing = False
        return delay


class BudgetsCollector(Collector):
    """Limit, spend and BYOK spend of every active, unarchived budget."""

    def __init__(self, teams: Sequence[TeamBudgets]) -> None:
        self._teams = teams

    def collect(self) -> Iterable[Metric]:
        limit = GaugeMetricFamily(
            name("budget_limit_usd"),
            "Limit in USD of an active AI Gateway budget (Vercel budgets API), per scope and "
            "refresh period.",
            labels=LABELS,
        )
        spend = GaugeMetricFamily(
            name("budget_spend_usd"),
            "Spend in USD counted against an active AI Gateway budget in its current refresh "
            "period (currentSpend).",
            labels=LABELS,
        )
        byok = GaugeMetricFamily(
            name("budget_byok_spend_usd"),
            "BYOK spend in USD in an active AI Gateway budget's current refresh period "
            "(currentByokSpend; it counts against the limit only if the budget includes BYOK).",
            labels=LABELS,
        )
        for team in self._teams:
            seen: set[tuple[str, ...]] = set()
            for budget in team.budgets or ():
                labels = (
                    team.team,
                    budget.scope_type,
                    budget.scope,
                    budget.name,
                    budget.refresh_period,
                )
                if not budget.published or labels in seen:
                    continue
                seen.add(labels)
                limit.add_metric(labels, float(budget.limit))
                spend.add_metric(labels, float(budget.spend))
                if budget.byok_spend is not None:
                    byok.add_metric(labels, float(budget.byok_spend))
        return [limit, spend, byok]


class Budgets:
    """Every team's budgets: token files checked at start, clients, pollers and collector."""

    def __init__(
        self, teams: Sequence[Team], api_metrics: ApiMetrics, clock: Clock, timeout: float
    ) -> None:
        self.teams: list[TeamBudgets] = []
        self._clients: list[BudgetsClient] = []
        self._pollers: list[BudgetsPoller] = []
        for index, team in enumerate(teams):
            config = team.config.budgets
            if config is None:
                continue
            try:
                token = FileKey(config.token_file, "budgets.token_file")
            except ConfigError as exc:
                raise ConfigError(f"teams[{index}] ({team.name}): {exc}") from None
            client = BudgetsClient(
                team.name,
                config.url,
                token,
                api_metrics,
                timeout=timeout,
                retry=RetryPolicy(sleep=clock.sleep),
                clock=clock,
            )
            state = TeamBudgets(team.name, config)
            self.teams.append(state)
            self._clients.append(client)
            self._pollers.append(BudgetsPoller(client, state, clock))
        self.collector = BudgetsCollector(self.teams)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        return [poller.run() for poller in self._pollers]

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))
