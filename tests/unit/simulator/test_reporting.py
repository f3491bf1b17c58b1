"""The simulator's /v1/report and budgets list, checked against sums computed here from its
generations, and its control switches (plan, faults) through the ASGI app."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.config import TeamConfig
from exporter.simulator.app import Simulator, create_app
from exporter.simulator.reporting import (
    DEMO_VERCEL_TOKEN,
    answer_budgets,
    answer_report,
    demo_team_config,
    dimension,
    period_start,
)
from exporter.simulator.world import SimGeneration, TeamWorld

KEY = "sk-sim-report-0123456789"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def world() -> TeamWorld:
    """Traffic every 37 minutes from 2027-03-29 to 2027-04-02 (a month boundary inside)."""
    world = TeamWorld(name="prod", rng=random.Random(7), balance=Decimal(1000))
    now = at("2027-03-29T00:00:00")
    while now < at("2027-04-02T12:00:00"):
        world.generate(now, 0.0)
        now += 37 * 60
    return world


def day_of(gen: SimGeneration) -> str:
    return datetime.fromtimestamp(gen.created_at, tz=timezone.utc).date().isoformat()


def report(world: TeamWorld, **params: str) -> list[dict[str, Any]]:
    status, body = answer_report(world, params, "pro")
    assert status == 200, body
    return list(body["results"])


@pytest.mark.parametrize(
    "group_by",
    ["user", "model", "tag", "provider", "credential_type", "zero_data_retention", "api_key_name"],
)
def test_every_group_by_sums_its_generations(world: TeamWorld, group_by: str) -> None:
    start, end = "2027-03-30", "2027-04-01"
    cost: dict[str, Decimal] = defaultdict(Decimal)
    count: dict[str, int] = defaultdict(int)
    for gen in world.generations.values():
        if start <= day_of(gen) <= end:
            for value in dimension(gen, group_by):
                cost[value] += gen.total_cost
                count[value] += 1
    rows = report(world, start_date=start, end_date=end, group_by=group_by)
    assert {r[group_by]: Decimal(str(r["total_cost"])) for r in rows} == cost
    assert {r[group_by]: r["request_count"] for r in rows} == count
    assert all(set(r) & {"day", "hour"} == set() for r in rows), "no time field by default"


def test_tag_rows_count_a_request_once_per_tag(world: TeamWorld) -> None:
    rows = report(world, start_date="2027-03-29", end_date="2027-04-02", group_by="tag")
    tagged = [g for g in world.generations.values() if g.tags]
    assert sum(r["request_count"] for r in rows) == sum(len(g.tags) for g in tagged)
    assert any(len(g.tags) > 1 for g in tagged), "the fixture has multi-tag requests"


def test_date_ranges_are_inclusive_utc_days(world: TeamWorld) -> None:
    rows = report(world, start_date="2027-03-31", end_date="2027-04-01")
    expected: defaultdict[str, int] = defaultdict(int)
    for gen in world.generations.values():
        if day_of(gen) in ("2027-03-31", "2027-04-01"):
            expected[day_of(gen)] += 1
    assert {r["day"]: r["request_count"] for r in rows} == expected
    assert report(world, start_date="2027-05-01", end_date="2027-05-31") == []


def test_hourly_buckets_and_a_time_field_next_to_the_group(world: TeamWorld) -> None:
    hours = report(world, start_date="2027-04-01", end_date="2027-04-01", date_part="hour")
    assert hours[0]["hour"] == "2027-04-01T00" and len(hours) == 24
    by_day_and_model = report(
        world, start_date="2027-03-31", end_date="2027-04-01", group_by="model", date_part="day"
    )
    assert {r["day"] for r in by_day_and_model} == {"2027-03-31", "2027-04-01"}
    assert all("model" in r for r in by_day_and_model)


def test_filters_match_hand_counts(world: TeamWorld) -> None:
    dates = {"start_date": "2027-03-29", "end_date": "2027-04-02", "group_by": "model"}
    cases: dict[str, tuple[str, Callable[[SimGeneration], bool]]] = {
        "credential_type": ("byok", lambda g: g.is_byok),
        "model": ("openai/gpt-5.4", lambda g: g.model == "openai/gpt-5.4"),
        "provider": ("bedrock", lambda g: g.provider_name == "bedrock"),
        "user_id": ("user-ada", lambda g: g.user == "user-ada"),
        "zero_data_retention": ("true", lambda g: g.zero_data_retention),
        "tags": ("chat,eval", lambda g: bool({"chat", "eval"} & set(g.tags))),
    }
    for key, (value, keep) in cases.items():
        rows = report(world, **dates, **{key: value})
        expected = sum(1 for g in world.generations.values() if keep(g))
        assert 0 < sum(r["request_count"] for r in rows) == expected, key
    both = report(world, **dates, tags="chat,eval", tags_match="all")
    expected = sum(1 for g in world.generations.values() if {"chat", "eval"} <= set(g.tags))
    assert sum(r["request_count"] for r in both) == expected


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start_date": None}, "start_date is required"),
        ({"start_date": "2027-4-1", "end_date": "2027-04-01"}, "start_date must be in YYYY-MM-DD"),
        (
            {"start_date": "2027-02-30", "end_date": "2027-04-01"},
            "start_date must be in YYYY-MM-DD",
        ),
        ({"start_date": "2027-04-02", "end_date": "2027-04-01"}, "must not be after end_date"),
        ({"group_by": "team"}, "group_by must be one of day, user"),
        ({"date_part": "minute"}, "date_part must be one of day, hour"),
        ({"tags_match": "some"}, "tags_match must be one of any, all"),
        ({"tags": " , "}, "tags must list at least one tag"),
        ({"tag": "chat"}, "unknown parameter tag"),
    ],
)
def test_bad_parameters_are_400(
    world: TeamWorld, params: dict[str, str | None], message: str
) -> None:
    merged = {"start_date": "2027-04-01", "end_date": "2027-04-01", **params}
    query = {key: value for key, value in merged.items() if value is not None}
    status, body = answer_report(world, query, "pro")
    assert status == 400 and message in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"


def test_a_hobby_plan_is_403_before_any_parameter_check(world: TeamWorld) -> None:
    status, body = answer_report(world, {"group_by": "nonsense"}, "hobby")
    assert status == 403 and body["error"]["type"] == "forbidden"


def test_budgets_follow_traffic_over_their_utc_period(world: TeamWorld) -> None:
    now = at("2027-04-02T12:00:00")  # a Friday
    assert period_start("daily", now) == at("2027-04-02T00:00:00")
    assert period_start("weekly", now) == at("2027-03-29T00:00:00")
    assert period_start("monthly", now) == at("2027-04-01T00:00:00")
    status, body = answer_budgets(world, now)
    assert status == 200
    budgets = {(b["scopeType"], b.get("name")): b for b in body["budgets"]}
    gens = list(world.generations.values())

    def spend(since: str, keep: Any) -> Decimal:
        return sum(
            (g.total_cost for g in gens if g.created_at >= at(since) and keep(g)), Decimal(0)
        )

    team = budgets[("team", "Team monthly")]
    assert team["currentSpend"] == spend("2027-04-01T00:00:00", lambda g: True) > 0
    project = budgets[("project", "Checkout")]
    prod_keys = spend("2027-03-29T00:00:00", lambda g: g.api_key_name.startswith("prod-"))
    assert project["currentSpend"] == prod_keys > 0
    key = budgets[("api-key", "Staging key")]
    assert key["quotaEntityId"] == "api_key_id_staging"
    assert key["currentSpend"] == spend(
        "2027-04-02T00:00:00", lambda g: g.api_key_name == "staging"
    )
    assert "name" not in budgets[("user", None)]
    assert budgets[("team", "Old weekly cap")]["archived"] is True
    assert budgets[("project", "Paused daily cap")]["active"] is False
    assert answer_budgets(None, now)[0] == 403


async def test_control_switches_and_the_budgets_token_check() -> None:
    sim = Simulator(api_keys={KEY: "prod"})
    sim.generate(sim.worlds["prod"])
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        gateway = {"Authorization": f"Bearer {KEY}"}
        today = datetime.now(tz=timezone.utc).date().isoformat()
        query = {"start_date": today, "end_date": today}
        assert (await client.get("/v1/report", params=query, headers=gateway)).status_code == 200
        assert (await client.post("/_sim/plan", json={"plan": "hobby"})).json() == {"plan": "hobby"}
        assert (await client.get("/v1/report", params=query, headers=gateway)).status_code == 403
        assert (await client.post("/_sim/plan", json={"plan": "free"})).status_code == 400
        await client.post("/_sim/plan", json={"plan": "pro"})
        await client.post("/_sim/faults", json={"mode": "server_error", "endpoints": ["report"]})
        assert (await client.get("/v1/report", params=query, headers=gateway)).status_code == 500
        assert (await client.get("/v1/credits", headers=gateway)).status_code == 200

        listing = "/ai-gateway/budgets/list"
        vercel = {"Authorization": "Bearer vercel-token-0123"}
        assert (
            await client.get(listing, params={"teamId": "prod"}, headers=gateway)
        ).status_code == 403
        assert (await client.get(listing, params={"teamId": "prod"})).status_code == 403
        assert (await client.get(listing, headers=vercel)).status_code == 400
        assert (
            await client.get(listing, params={"teamId": "nope"}, headers=vercel)
        ).status_code == 403
        resp = await client.get(listing, params={"teamId": "prod"}, headers=vercel)
        assert resp.status_code == 200 and len(resp.json()["budgets"]) == 8
        await client.post("/_sim/faults", json={"mode": "rate_limit", "endpoints": ["budgets"]})
        resp = await client.get(listing, params={"teamId": "prod"}, headers=vercel)
        assert resp.status_code == 429 and resp.headers["retry-after"] == "5"
    logged = [(r["endpoint"], r["status"], r["team"]) for r in sim.requests]
    assert ("budgets", 200, "prod") in logged and ("report", 403, "prod") in logged


def test_the_demo_hook_gives_a_valid_team_config_and_a_month_of_history(tmp_path: Path) -> None:
    world = TeamWorld(name="team-demo", rng=random.Random(1), balance=Decimal(100))
    extra = demo_team_config(world, "http://127.0.0.1:1", tmp_path)
    config = TeamConfig.model_validate({"name": "demo", "api_key_env": "UNUSED", **extra})
    assert {r.group_by for r in config.reports} == {"model", "provider", "user", "tag",
                                                    "api_key_name", "day"}  # fmt: skip
    assert config.budgets is not None and config.budgets.team_id == "team-demo"
    assert config.budgets.token_file.read_text() == DEMO_VERCEL_TOKEN
    days = {day_of(g) for g in world.generations.values()}
    assert len(days) >= 30, "month-to-date reports have data from the first query on"
