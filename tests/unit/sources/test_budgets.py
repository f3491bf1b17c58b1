"""Budgets: parsing the list, what is published (active and unarchived only, set or default,
BYOK and alert thresholds), entries left out and counted, the poller."""

from __future__ import annotations

import json
import logging
import random
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter import metrics
from exporter.clock import FakeClock
from exporter.config import BudgetsConfig
from exporter.gateway.budgets_models import Budget, BudgetList, parse_budgets
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


def parse_list(body: object) -> BudgetList:
    return parse_budgets(load_json(json.dumps(body).encode()))


def parse(body: object) -> list[Budget]:
    return parse_list(body).budgets


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


def registry_with(*budgets: object) -> CollectorRegistry:
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="team_abc"))
    state.listed(parse_list({"budgets": list(budgets)}))
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
                assert labels["vercel_team"] == "prod" and labels["budget_source"] == "set"
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
    def __init__(self, *answers: BudgetList | GatewayError) -> None:
        self.answers = list(answers)
        self.team_ids: list[str] = []

    async def budgets(self, team_id: str) -> BudgetList:
        self.team_ids.append(team_id)
        answer = self.answers.pop(0)
        if isinstance(answer, GatewayError):
            raise answer
        return answer


async def test_the_poller_keeps_the_last_list_logs_auth_once_and_honours_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = parse_list({"budgets": [REFERENCE]})
    denied = AuthError("Vercel access token rejected for team prod (403: no)", status=403)
    client = FakeClient(good, denied, denied, RateLimitedError("slow", status=429, retry_after=500))
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="team_abc"))
    poller = budgets_poller(client, state, FakeClock(), random.Random(1))
    caplog.set_level(logging.DEBUG, logger="exporter.sources.polling")
    assert 270 <= await poller.refresh() <= 330
    assert state.budgets == good.budgets
    await poller.refresh()
    await poller.refresh()
    assert state.budgets == good.budgets, "the last good list stays"
    assert await poller.refresh() == 500
    assert not state.health.up and state.health.last_error == "slow"
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, getattr(r, "code", None)) for r in loud] == [
        ("ERROR", "403"),
        ("WARNING", "429"),
    ], "a rejected token is an error, logged once while it stays rejected"
    assert client.team_ids == ["team_abc"] * 4


# The list as a team with defaults shows it: one inherited row per API key (source "default"),
# BYOK counted in one budget, alert thresholds set in Vercel.
DEFAULT_KEY_BUDGET = {
    **KEY_BUDGET,
    "quotaEntityId": "api_key_id_d3F4",
    "scopeId": "d3F4",
    "name": "",
    "source": "default",
    "alertThresholds": [75, 50, 100],
    "includeByokInQuota": True,
}


def labelled(registry: CollectorRegistry, metric: Family) -> dict[tuple[str, ...], float]:
    return {
        (s.labels["scope"], s.labels["budget_source"]): s.value
        for f in registry.collect()
        for s in f.samples
        if s.name == metric.name
    }


def test_default_budgets_byok_and_alert_thresholds_are_published() -> None:
    odd_source = {**REFERENCE, "scopeId": "t2", "source": "inherited", "includeByokInQuota": 1}
    registry = registry_with(REFERENCE, DEFAULT_KEY_BUDGET, odd_source)
    assert labelled(registry, metrics.BUDGET_LIMIT) == {
        ("team_abc", "set"): 500,
        ("d3F4", "default"): 10,
        ("t2", "other"): 500,
    }, "set and default budgets are told apart; an unknown source stays bounded"
    assert labelled(registry, metrics.BUDGET_BYOK_INCLUDED) == {
        ("team_abc", "set"): 0,
        ("d3F4", "default"): 1,
    }, "includeByokInQuota as 0/1, absent when it is not a boolean"
    assert labelled(registry, metrics.BUDGET_ALERT_THRESHOLD) == {("d3F4", "default"): 0.5}


def test_unusable_alert_thresholds_are_not_published() -> None:
    for thresholds in ([], [0], [120.5, "x"], [50, None], 75):
        (budget,) = parse({"budgets": [{**REFERENCE, "alertThresholds": thresholds}]})
        assert budget.alert_threshold is None, thresholds


async def test_entries_left_out_are_counted_by_reason_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    no_scope = {k: v for k, v in REFERENCE.items() if k not in ("scopeId", "quotaEntityId")}
    body = {
        "budgets": [
            "x",
            {**REFERENCE, "scopeType": None},
            no_scope,
            {**REFERENCE, "limitAmount": "lots"},
            {**REFERENCE, "limitAmount": None},
            {**REFERENCE, "currentSpend": None},
            {**REFERENCE, "active": "yes"},
            KEY_BUDGET,
        ]
    }
    answer = parse_list(body)
    assert [b.name for b in answer.budgets] == ["CI key"], "the usable budget is kept"
    assert dict(answer.skipped) == {
        "not_an_object": 1,
        "no_scope_type": 1,
        "no_scope": 1,
        "bad_limit": 2,
        "bad_spend": 1,
        "bad_flag": 1,
    }
    assert answer.details["bad_limit"] == "limitAmount is not usable", "the first one"
    state = TeamBudgets("prod", BudgetsConfig(token_file=Path("/t"), team_id="team_abc"))
    registry = CollectorRegistry()
    registry.register(BudgetsCollector([state]))
    name = metrics.BUDGET_ENTRIES_SKIPPED.name
    limit = {"vercel_team": "prod", "reason": "bad_limit"}
    assert registry.get_sample_value(name, limit) is None, "nothing before the first list"
    caplog.set_level(logging.WARNING, logger="exporter.sources.budgets")
    client = FakeClient(answer, answer, parse_list({"budgets": [KEY_BUDGET]}))
    poller = budgets_poller(client, state, FakeClock(), random.Random(1))
    for _ in range(2):
        assert 270 <= await poller.refresh() <= 330
    assert state.health.up, "a list with entries left out is still a successful poll"
    assert len(caplog.records) == 6, "each reason is logged once, not at every poll"
    assert "limitAmount is not usable" in caplog.text
    assert registry.get_sample_value(name, limit) == 2
    await poller.refresh()
    assert registry.get_sample_value(name, limit) == 0, "a clean list brings the count to 0"
