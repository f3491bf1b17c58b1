"""AI Gateway budgets: a poller per team (Vercel budgets API) and the collector of their gauges.

Optional: only teams with a ``budgets`` section (a Vercel access token and the team's ID) are
polled. Archived and inactive budgets are left out, since they limit nothing. The list is
free to read, so it is retried inline like credits; a scrape only reads the last answer. An
entry of an unexpected shape is left out, counted by reason and logged the first time that
reason is seen, while the team's other budgets are published as usual.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import BudgetsConfig, ConfigError
from exporter.gateway.budgets_client import BudgetsClient
from exporter.gateway.budgets_models import SKIP_REASONS, Budget, BudgetList
from exporter.gateway.keys import FileKey, KeySource
from exporter.gateway.retry import RetryPolicy
from exporter.labels import safe_label
from exporter.metrics import (
    BUDGET_ALERT_THRESHOLD,
    BUDGET_BYOK_INCLUDED,
    BUDGET_BYOK_SPEND,
    BUDGET_ENTRIES_SKIPPED,
    BUDGET_LIMIT,
    BUDGET_SPEND,
    ApiMetrics,
)
from exporter.sources.base import PolledSource
from exporter.sources.health import Health
from exporter.sources.polling import Poller
from exporter.teams import Team

log = logging.getLogger(__name__)


class TeamBudgets:
    """The team's budgets as last listed (None before the first success)."""

    def __init__(self, team: str, config: BudgetsConfig) -> None:
        self.team = team
        self.config = config
        self.budgets: list[Budget] | None = None
        self.skipped: Counter[str] = Counter()  # entries left out of the last list, by reason
        self._logged: set[str] = set()
        self.health = Health()

    def listed(self, answer: BudgetList) -> None:
        """Keep a new list; say once per reason that entries were left out of it."""
        self.budgets, self.skipped = answer.budgets, answer.skipped
        for reason in sorted(set(answer.skipped) - self._logged):
            self._logged.add(reason)
            log.warning(
                f"budget entries left out of the list, the others are published: "
                f"{answer.details[reason]}",
                extra={"team": self.team, "reason": reason},
            )


class BudgetsLister(Protocol):
    """What the poller needs of a budgets client (BudgetsClient, or a script in tests)."""

    async def budgets(self, team_id: str) -> BudgetList: ...


def budgets_poller(
    client: BudgetsLister, state: TeamBudgets, clock: Clock, rng: random.Random | None = None
) -> Poller:
    """Lists one team's budgets into ``state`` every interval."""

    async def fetch() -> None:
        state.listed(await client.budgets(state.config.team_id))

    return Poller("budgets", state.team, fetch, state.health, state.config.interval, clock, rng)


class BudgetsCollector(Collector):
    """Limit, spend, BYOK spend and alert threshold of every active, unarchived budget, and the
    entries left out of each team's last list."""

    def __init__(self, teams: Sequence[TeamBudgets]) -> None:
        self._teams = teams

    def collect(self) -> Iterable[Metric]:
        limit, spend, byok = BUDGET_LIMIT.gauge(), BUDGET_SPEND.gauge(), BUDGET_BYOK_SPEND.gauge()
        included, threshold = BUDGET_BYOK_INCLUDED.gauge(), BUDGET_ALERT_THRESHOLD.gauge()
        skipped = BUDGET_ENTRIES_SKIPPED.gauge()
        for team in self._teams:
            if team.budgets is not None:  # every reason, so a clean list shows 0s
                for reason in SKIP_REASONS:
                    skipped.add_metric([team.team, reason], float(team.skipped[reason]))
            seen: set[tuple[str, ...]] = set()
            for budget in team.budgets or ():
                labels = (
                    team.team,
                    *(
                        safe_label(value)
                        for value in (
                            budget.scope_type,
                            budget.scope,
                            budget.name,
                            budget.refresh_period,
                            budget.source,
                        )
                    ),
                )
                if not budget.published or labels in seen:
                    continue
                seen.add(labels)
                limit.add_metric(labels, float(budget.limit))
                spend.add_metric(labels, float(budget.spend))
                if budget.byok_spend is not None:
                    byok.add_metric(labels, float(budget.byok_spend))
                if budget.byok_included is not None:
                    included.add_metric(labels, float(budget.byok_included))
                if budget.alert_threshold is not None:
                    threshold.add_metric(labels, float(budget.alert_threshold))
        return [limit, spend, byok, included, threshold, skipped]


class BudgetsSource(PolledSource):
    """Every team's budgets: token files checked at start, clients, pollers and collector."""

    name: ClassVar[str] = "budgets"

    def __init__(
        self, teams: Sequence[Team], api_metrics: ApiMetrics, clock: Clock, timeout: float
    ) -> None:
        self.teams: list[TeamBudgets] = []
        self._clients: list[BudgetsClient] = []
        pollers: list[Poller] = []
        self._tokens: list[KeySource] = []
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
            self._tokens.append(token)
            state = TeamBudgets(team.name, config)
            self.teams.append(state)
            self._clients.append(client)
            pollers.append(budgets_poller(client, state, clock))
        super().__init__(
            {state.team: state.health for state in self.teams},
            pollers,
            BudgetsCollector(self.teams),
        )

    def secrets(self) -> list[KeySource]:
        """Each team's Vercel access token file."""
        return list(self._tokens)

    async def aclose(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self._clients))
