"""The simulator sets the traps a first production run meets: surcharges on every record (BYOK
too), unstreamed records whose latency is their whole generation time, default budgets, and a
mode or fault for each undocumented case, switched through /_sim/modes and /_sim/faults as the
demo's users switch them."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from exporter.cli import _modes
from exporter.config import ConfigError, TeamConfig
from exporter.gateway.budgets_models import parse_budgets
from exporter.gateway.models import load_json
from exporter.simulator.app import Simulator, create_app
from exporter.simulator.reporting import answer_budgets, answer_report, demo_team_config
from exporter.simulator.responses import json_response
from exporter.simulator.world import TeamWorld

KEY, OTHER_KEY = "sk-sim-cases-0123456789", "sk-sim-cases-other-0123456789"
VERCEL = {"Authorization": "Bearer vercel-token-0123"}
GATEWAY = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def world() -> TeamWorld:
    world = TeamWorld(name="prod", rng=random.Random(11), balance=Decimal(1000))
    now = datetime(2027, 4, 1, 8, tzinfo=timezone.utc).timestamp()
    for index in range(400):
        world.generate(now + index * 30, 0.0)
    return world


def test_every_record_carries_surcharges_byok_ones_too(world: TeamWorld) -> None:
    gens = list(world.generations.values())
    assert all(g.surcharge >= Decimal("0.000075") for g in gens), "routine, not rare"
    byok = [g for g in gens if g.is_byok]
    assert byok and all(g.total_cost == g.surcharge + g.web_search_fee > 0 for g in byok)
    assert all(g.upstream_inference_cost == g.market_cost > 0 for g in byok)
    system = [g for g in gens if not g.is_byok]
    assert all(g.total_cost == g.market_cost + g.surcharge for g in system)
    for gen in gens:  # the record's breakdown
        record = gen.record()
        assert (record["market_cost"], record["surcharge_cost"]) == (gen.market_cost, gen.surcharge)
        assert record["gateway_cost"] == record["total_cost"], "the total debited"
    assert world.total_used == sum((g.total_cost for g in gens), Decimal(0))


def test_unstreamed_records_have_latency_equal_to_generation_time(world: TeamWorld) -> None:
    gens = list(world.generations.values())
    unstreamed = [g for g in gens if not g.streamed]
    assert unstreamed and all(g.latency_ms == g.generation_time_ms for g in unstreamed)
    assert all(g.latency_ms < g.generation_time_ms for g in gens if g.streamed)


def test_reports_carry_surcharge_and_gateway_costs(world: TeamWorld) -> None:
    status, body = answer_report(
        world, {"start_date": "2027-04-01", "end_date": "2027-04-01"}, "pro"
    )
    (row,) = body["results"]
    assert status == 200 and row["surcharge_cost"] > 0 and row["gateway_cost"] > 0
    gens = world.generations.values()
    assert row["surcharge_cost"] == sum((g.surcharge for g in gens), Decimal(0))
    assert row["total_cost"] == sum((g.total_cost for g in gens), Decimal(0))


def test_the_budgets_list_has_default_budgets_byok_and_alert_thresholds(world: TeamWorld) -> None:
    _, body = answer_budgets(world, datetime(2027, 4, 1, 12, tzinfo=timezone.utc).timestamp())
    defaults = [b for b in body["budgets"] if b.get("source") == "default"]
    assert {b["scopeId"] for b in defaults} == {"prod-backend", "prod-worker"}
    assert any(b["includeByokInQuota"] for b in body["budgets"])
    assert any(b["alertThresholds"] for b in body["budgets"])
    _, odd = answer_budgets(world, 0.0, odd=True)
    parsed = parse_budgets(load_json(bytes(json_response(odd).body)))
    assert sum(parsed.skipped.values()) == 4 and len(parsed.budgets) == len(body["budgets"])


@pytest.fixture
async def client() -> AsyncIterator[tuple[Simulator, httpx.AsyncClient]]:
    sim = Simulator(api_keys={KEY: "prod", OTHER_KEY: "other"})
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        yield sim, http


async def test_modes_are_shown_and_switched_and_bad_ones_refused(
    client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    _, http = client
    shown = (await http.get("/_sim/modes")).json()["modes"]
    assert shown == {"foreign_generations": "not_found", "hourly_groups": "split",
                     "odd_budgets": False}  # fmt: skip
    bad_modes: list[object] = [{"foreign_generations": "maybe"}, {"odd_budgets": 1}, {"x": 1}, []]
    for bad in bad_modes:
        assert (await http.post("/_sim/modes", json=bad)).status_code == 400, bad
    switched = await http.post("/_sim/modes", json={"odd_budgets": True})
    assert switched.json()["modes"]["odd_budgets"] is True
    assert _modes(["odd_budgets=true", "hourly_groups=ignored"]).hourly_groups == "ignored"
    with pytest.raises(ConfigError, match="--mode: unknown mode 'nope'"):
        _modes(["nope=1"])


async def test_another_teams_generation_is_404_or_403_by_mode(
    client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    sim, http = client
    theirs = sim.generate(sim.worlds["other"], ready_delay=0.0).id
    asked = await http.get("/v1/generation", params={"id": theirs}, headers=GATEWAY)
    assert asked.status_code == 404
    await http.post("/_sim/modes", json={"foreign_generations": "forbidden"})
    refused = await http.get("/v1/generation", params={"id": theirs}, headers=GATEWAY)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "forbidden"
    mine = sim.generate(sim.worlds["prod"], ready_delay=0.0).id
    assert (await http.get("/v1/generation", params={"id": mine}, headers=GATEWAY)).is_success
    credits = await http.get("/v1/credits", headers=GATEWAY)
    assert credits.is_success, "the key itself still works: that is how the exporter tells"


async def test_hourly_groups_split_or_ignored(client: tuple[Simulator, httpx.AsyncClient]) -> None:
    sim, http = client
    sim.generate(sim.worlds["prod"], ready_delay=0.0)
    today = datetime.now(tz=timezone.utc).date().isoformat()
    query = {"start_date": today, "end_date": today, "group_by": "model", "date_part": "hour"}
    split = (await http.get("/v1/report", params=query, headers=GATEWAY)).json()["results"]
    assert split and all({"hour", "model"} <= set(row) for row in split)
    await http.post("/_sim/modes", json={"hourly_groups": "ignored"})
    ignored = (await http.get("/v1/report", params=query, headers=GATEWAY)).json()["results"]
    assert ignored and all("hour" not in row and "model" in row for row in ignored)


async def test_paths_the_api_does_not_have_and_the_faults_of_a_wrong_url_or_a_budget(
    client: tuple[Simulator, httpx.AsyncClient],
) -> None:
    _, http = client
    doubled = await http.get("/v1/v1/credits", headers=GATEWAY)
    assert doubled.status_code == 404 and doubled.json()["error"]["type"] == "not_found_error"
    page = await http.get("/credits", headers=GATEWAY)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert (await http.get("/_sim/modes")).is_success, "the control API is not shadowed"
    await http.post("/_sim/faults", json={"mode": "not_found_html", "count": 1})
    html = await http.get("/v1/credits", headers=GATEWAY)
    assert html.status_code == 404 and html.text.startswith("<!DOCTYPE html>")
    await http.post("/_sim/faults", json={"mode": "quota_exceeded", "endpoints": ["generation"]})
    blocked = await http.get("/v1/generation", params={"id": "gen_" + "0" * 26}, headers=GATEWAY)
    assert blocked.status_code == 402
    assert blocked.json()["error"]["type"] == "quota_for_entity_exceeded"


def test_the_demo_reports_an_hourly_curve_and_zero_data_retention(tmp_path: Path) -> None:
    world = TeamWorld(name="team-demo", rng=random.Random(1), balance=Decimal(100))
    config = TeamConfig.model_validate(
        {"name": "demo", "api_key_env": "UNUSED", **demo_team_config(world, "http://x", tmp_path)}
    )
    windows = {r.name: r for r in config.reports}
    assert windows["last-hour"].window == "last_hour"
    assert windows["zdr-today-by-model"].filters.zero_data_retention is True
