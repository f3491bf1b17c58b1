"""Budgets: parsing the list, what is published (active and unarchived only), the poller."""

from __future__ import annotations

import json
import logging
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter import metrics
from exporter.clock import FakeClock
from exporter.config import BudgetsConfig
from exporter.gateway.budgets_client import Budget, parse_budgets
from exporter.gateway.errors import AuthError, GatewayError, InvalidResponseError, RateLimitedError
from exporter.gateway.models import load_json
from exporter.metrics import Family
from exporter.sources.budgets import BudgetsCollector, TeamBudgets, budgets_poller

# The reference's fixture (§9.4), then the CLI type's other scopes and states.
REFERENCE = {
    "quotaEntityId": "team_abc",
    "scopeType": "team",
    "scopeId": "team_abc",
    "limitAmount": 500,
    "currentSpend": 120.5,
    "currentByokSpend": 0,
    "includeByokInQuota": False,
    "refreshPeriod": "monthly",
    "active": True,
    "archived": False,
    "createdAt": 1754000000000,
    "updatedAt": 1755000000000,
}
KEY_BUDGET = {
    **REFERENCE,
    "quotaEntityId": "api_key_id_k9Xf2",
    "scopeType": "api-key",
    "scopeId": "k9Xf2",
    "name": "CI key",
    "limitAmount": 10,
    "currentSpend": 9.99999999,
    "currentByokSpend": 1.25,
    "refreshPeriod": "daily",
}
ARCHIVED = {**REFERENCE, "name": "old", "archived": True, "active": False}
INACTIVE = {**REFERENCE, "name": "paused", "scopeType": "project", "active": False}


def parse(body: object) -> list[Budget]:
    return parse_budgets(load_json(json.dumps(body).encode()))


def test_the_documented_shape_parses_exactly() -> None:
    team, key = parse({"budgets": [REFERENCE, KEY_BUDGET]})
    assert (team.scope_type, team.scope, team.name, team.refresh_period) == (
        "team",
        "team_abc",
        "",
        "monthly",
    )
    assert (team.limit, team.spend, team.byok_spend) == (Decimal(500), Decimal("120.5"), Decimal(0))
    assert (key.scope, key.name, key.spend) == ("k9Xf2", "CI key", Decimal("9.99999999"))


def test_missing_list_is_empty_and_bad_entries_are_skipped() -> None:
    assert parse({}) == [] and parse({"budgets": None}) == []
    no_scope = {k: v for k, v in REFERENCE.items() if k not in ("scopeId", "quotaEntityId")}
    bad = [
        "x",
        no_scope,
        {**REFERENCE, "limitAmount": "lots"},
        {**REFERENCE, "active": "yes"},
    ]
    (only,) = parse({"budgets": [*bad, KEY_BUDGET]})
    assert only.name == "CI key"
    fallback = {k: v for k, v in REFERENCE.items() if k != "scopeId"}
    assert parse({"budgets": [fallback]})[0].scope == "team_abc", "quotaEntityId stands in"
    with pytest.raises(InvalidResponseError):
        parse({"budgets": {"team": REFERENCE}})
    with pytest.raises(InvalidResponseError):
        parse([REFERENCE])


def registry_with(*budgets: dict[str, Any]) -> CollectorRegistry:
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="team_abc"))
    state.budgets = parse({"budgets": list(budgets)})
    registry = CollectorRegistry()
    registry.register(BudgetsCollector([state]))
    return registry


def series(registry: CollectorRegistry, metric: Family) -> dict[tuple[str, ...], float]:
    out = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == metric.name:
                labels = sample.labels
                key = tuple(labels[k] for k in ("scope_type", "scope", "name", "refresh_period"))
                assert labels["vercel_team"] == "prod"
                out[key] = sample.value
    return out


def test_only_active_unarchived_budgets_are_published() -> None:
    registry = registry_with(REFERENCE, KEY_BUDGET, ARCHIVED, INACTIVE)
    assert series(registry, metrics.BUDGET_LIMIT) == {
        ("team", "team_abc", "", "monthly"): 500.0,
        ("api-key", "k9Xf2", "CI key", "daily"): 10.0,
    }
    assert series(registry, metrics.BUDGET_SPEND) == {
        ("team", "team_abc", "", "monthly"): 120.5,
        ("api-key", "k9Xf2", "CI key", "daily"): 9.99999999,
    }
    assert (
        series(registry, metrics.BUDGET_BYOK_SPEND)[("api-key", "k9Xf2", "CI key", "daily")] == 1.25
    )


def test_a_duplicate_label_set_is_published_once() -> None:
    registry = registry_with(REFERENCE, {**REFERENCE, "currentSpend": 1})
    assert series(registry, metrics.BUDGET_SPEND) == {("team", "team_abc", "", "monthly"): 120.5}


def test_nothing_before_the_first_answer() -> None:
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="t"))
    registry = CollectorRegistry()
    registry.register(BudgetsCollector([state]))
    assert all(not f.samples for f in registry.collect())


class FakeClient:
    def __init__(self, *answers: list[Budget] | GatewayError) -> None:
        self.answers = list(answers)
        self.team_ids: list[str] = []

    async def budgets(self, team_id: str) -> list[Budget]:
        self.team_ids.append(team_id)
        answer = self.answers.pop(0)
        if isinstance(answer, GatewayError):
            raise answer
        return answer


async def test_the_poller_keeps_the_last_list_logs_auth_once_and_honours_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = parse({"budgets": [REFERENCE]})
    denied = AuthError("Vercel access token rejected for team prod (403: no)", status=403)
    client = FakeClient(good, denied, denied, RateLimitedError("slow", status=429, retry_after=500))
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="team_abc"))
    poller = budgets_poller(client, state, FakeClock(), random.Random(1))
    caplog.set_level(logging.DEBUG, logger="exporter.polling")
    assert 270 <= await poller.refresh() <= 330
    assert state.budgets == good
    await poller.refresh()
    await poller.refresh()
    assert state.budgets == good, "the last good list stays"
    assert await poller.refresh() == 500
    assert not state.health.up and state.health.last_error == "slow"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, getattr(r, "code", None)) for r in loud] == [
        ("ERROR", "403"),
        ("WARNING", "429"),
    ], "a rejected token is an error, logged once while it stays rejected"
    assert client.team_ids == ["team_abc"] * 4
