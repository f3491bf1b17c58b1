"""Custom Reporting and budgets over real sockets, checked against the simulator's ground truth.

Two ways in: the exporter and the simulator as real processes (what users run), and the
reports poller driven directly with an injected clock against an in-process simulator on a
real socket, to cross midnight and a month boundary, and to count retries, without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter import metrics
from exporter.clock import FakeClock
from exporter.config import GroupBy, ReportConfig
from exporter.gateway.client import GatewayClient
from exporter.gateway.keys import StaticKey
from exporter.metrics import ApiMetrics
from exporter.simulator.app import Simulator, create_app
from exporter.sources.reports import (
    MIDNIGHT_SETTLE,
    PLAN_PROBE_INTERVAL,
    RETRY_DELAY,
    ReportsCollector,
    ReportsPoller,
)
from exporter.sources.reports import TeamReports as TeamReportsState
from exporter.web.server import AsgiServer, bind, bound_port
from tests.integration.test_prometheus import promtool_check_metrics
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-e2e-reports-0123456789"
VERCEL_TOKEN = "vercel-e2e-access-token"
GROUP_BYS: tuple[str, ...] = get_args(GroupBy)
TOKEN_FIELDS = {  # token_type: the generation record field the report sums
    "input": "native_tokens_prompt",
    "output": "native_tokens_completion",
    "cache_read": "native_tokens_cached",
    "cache_write": "native_tokens_cache_creation",
    "reasoning": "native_tokens_reasoning",
}
REPORT_FAMILIES = {
    family.name for family in metrics.FAMILIES if family.area is metrics.Area.REPORTS
}
Totals = dict[str | None, dict[tuple[str, ...], Decimal]]


# --- ground truth, summed here ----------------------------------------------------------------


def created(gen: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(gen["created_at"].replace("Z", "+00:00"))


def groups_of(gen: dict[str, Any], group_by: str) -> list[str | None]:
    if group_by == "day":
        return [None]
    if group_by == "tag":
        return list(gen["tags"])
    if group_by == "provider":
        return [gen["provider_name"]]
    if group_by == "zero_data_retention":
        return ["true" if gen["zero_data_retention"] else "false"]
    return [str(gen[group_by])]


def expected_totals(
    generations: Iterable[dict[str, Any]], group_by: str, start: date, end: date
) -> Totals:
    """What a report must publish, summed from the truth records of the generations."""
    out: Totals = defaultdict(lambda: defaultdict(Decimal))
    for gen in generations:
        if not start <= created(gen).date() <= end:
            continue
        for group in groups_of(gen, group_by):
            totals = out[group]
            totals[("cost", "total")] += Decimal(gen["total_cost"])
            totals[("cost", "market")] += Decimal(gen["market_cost"])
            totals[("cost", "surcharge")] += Decimal(gen["surcharge"])
            totals[("cost", "gateway")] += Decimal(gen["total_cost"])
            for token_type, field in TOKEN_FIELDS.items():
                totals[("tokens", token_type)] += gen[field]
            totals[("requests",)] += 1
    return {group: dict(values) for group, values in out.items()}


def observed_totals(
    samples: Iterable[tuple[str, dict[str, str], float]], report: str, group_by: str
) -> dict[str | None, dict[tuple[str, ...], float]]:
    """The same totals, read from the exporter's samples of one report."""
    out: dict[str | None, dict[tuple[str, ...], float]] = defaultdict(dict)
    for sample_name, labels, value in samples:
        if labels.get("report") != report:
            continue
        group = labels.get(group_by) if group_by != "day" else None
        if sample_name == metrics.REPORT_COST.name:
            out[group][("cost", labels["cost_type"])] = value
        elif sample_name == metrics.REPORT_TOKENS.name:
            out[group][("tokens", labels["token_type"])] = value
        elif sample_name == metrics.REPORT_REQUESTS.name:
            out[group][("requests",)] = value
    return dict(out)


def as_floats(totals: Totals) -> dict[str | None, dict[tuple[str, ...], float]]:
    return {g: {k: float(v) for k, v in values.items()} for g, values in totals.items()}


def full_window(days: int = 30) -> tuple[date, date]:
    """Every generation a test makes (now) falls inside, even if midnight passes meanwhile."""
    today = datetime.now(tz=timezone.utc).date()
    return today - timedelta(days=days), today + timedelta(days=1)


# --- the exporter and the simulator as processes ----------------------------------------------

REPORTS: list[dict[str, Any]] = [
    {"name": f"by-{g}", "group_by": g, "window": "last_30_days"} for g in GROUP_BYS
] + [
    {"name": "top3-models", "group_by": "model", "window": "last_30_days", "top_n": 3},
    {
        "name": "chat-eval-by-provider",
        "group_by": "provider",
        "window": "last_30_days",
        "filters": {"tags": ["chat", "eval"], "tags_match": "any"},
    },
    {
        "name": "byok-by-model",
        "group_by": "model",
        "window": "last_30_days",
        "filters": {"credential_type": "byok"},
    },
    {
        "name": "zdr-by-model",
        "group_by": "model",
        "window": "last_30_days",
        "filters": {"zero_data_retention": True},
    },
    {"name": "last-hour", "group_by": "day", "window": "last_hour"},
]


class Stack:
    def __init__(self, sim: SimulatorProcess, exp: ExporterProcess) -> None:
        self.sim = sim
        self.exp = exp
        self.truth = sim.team_truth(KEY)["generations"]
        self.samples = [
            (name, dict(labels), value) for (name, labels), value in exp.samples().items()
        ]


def all_reports_up(exp: ExporterProcess) -> bool:
    samples = exp.samples()
    ups = [
        samples.get((metrics.REPORT_UP.name, (("report", r["name"]), ("vercel_team", "prod"))))
        for r in REPORTS
    ]
    budgets = any(name == metrics.BUDGET_LIMIT.name for name, _ in samples)
    return all(up == 1 for up in ups) and budgets


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir: Path = tmp_path_factory.mktemp("reports-e2e")
    sim = SimulatorProcess(workdir / "sim", f"--api-key=prod={KEY}")
    exp = None
    try:
        sim.control("generations", {"count": 400}, key=KEY)
        token = workdir / "vercel-token"
        token.write_text(VERCEL_TOKEN + "\n")
        config = {
            "teams": [
                {
                    "name": "prod",
                    "api_key_env": "K",
                    "reports": REPORTS,
                    "budgets": {"token_file": str(token), "team_id": "prod", "url": sim.url},
                }
            ]
        }
        exp = ExporterProcess(workdir / "exporter", sim.url, config=config, env={"K": KEY})
        wait_until(lambda: all_reports_up(exp), 15, what="every report and the budgets")
        yield Stack(sim, exp)
    finally:
        if exp is not None:
            exp.stop()
        sim.stop()


@pytest.mark.parametrize("group_by", GROUP_BYS)
def test_each_group_by_publishes_the_ground_truth_sums(stack: Stack, group_by: str) -> None:
    expected = expected_totals(stack.truth, group_by, *full_window())
    observed = observed_totals(stack.samples, f"by-{group_by}", group_by)
    assert len(expected) > 1 or group_by == "day"
    assert observed == as_floats(expected)


def test_top_n_sums_the_rest_into_other_exactly(stack: Stack) -> None:
    expected = expected_totals(stack.truth, "model", *full_window())
    ranked = sorted(expected, key=lambda m: expected[m][("cost", "total")], reverse=True)
    assert len(ranked) > 4
    other: dict[tuple[str, ...], Decimal] = defaultdict(Decimal)
    for model in ranked[3:]:
        for key, value in expected[model].items():
            other[key] += value
    observed = observed_totals(stack.samples, "top3-models", "model")
    assert observed == as_floats({**{m: expected[m] for m in ranked[:3]}, "other": other})
    total = sum((expected[m][("cost", "total")] for m in ranked), Decimal(0))
    published = sum((Decimal(repr(v[("cost", "total")])) for v in observed.values()), Decimal(0))
    assert abs(published - total) < Decimal("1e-9")


def test_filters_reach_the_api(stack: Stack) -> None:
    window = full_window()
    tagged = [g for g in stack.truth if {"chat", "eval"} & set(g["tags"])]
    assert observed_totals(stack.samples, "chat-eval-by-provider", "provider") == as_floats(
        expected_totals(tagged, "provider", *window)
    )
    byok = [g for g in stack.truth if g["credential_type"] == "byok"]
    assert byok, "the simulator makes some BYOK traffic"
    observed = observed_totals(stack.samples, "byok-by-model", "model")
    assert observed == as_floats(expected_totals(byok, "model", *window))
    charged = [v[("cost", "total")] for v in observed.values()]
    debited = [v[("cost", "gateway")] for v in observed.values()]
    assert debited == pytest.approx(charged), "gateway_cost is the total debited"
    surcharges = [v[("cost", "surcharge")] for v in observed.values()]
    assert all(0 < part <= whole for part, whole in zip(surcharges, charged, strict=True)), (
        "BYOK still pays its surcharges, and they are part of what it is charged"
    )
    zdr = [g for g in stack.truth if g["zero_data_retention"]]
    assert observed_totals(stack.samples, "zdr-by-model", "model") == as_floats(
        expected_totals(zdr, "model", *window)
    )
    queries = [r["query"] for r in stack.sim.requests() if r["endpoint"] == "report"]
    assert any("tags=chat%2Ceval" in q and "tags_match=any" in q for q in queries)
    assert any("zero_data_retention=true" in q for q in queries)


def test_the_last_hour_is_an_hourly_query_of_the_last_complete_hour(stack: Stack) -> None:
    (request,) = [
        r for r in stack.sim.requests() if r["endpoint"] == "report" and "date_part" in r["query"]
    ]
    query = dict(httpx.QueryParams(request["query"]))
    assert query["date_part"] == "hour" and query["group_by"] == "day"
    asked = datetime.fromtimestamp(request["started"], tz=timezone.utc)
    hour_end = asked.replace(minute=0, second=0, microsecond=0)
    hour_start = hour_end - timedelta(hours=1)
    assert query["start_date"] == query["end_date"] == hour_start.date().isoformat()
    in_hour = [g for g in stack.truth if hour_start <= created(g) < hour_end]
    (total,) = observed_totals(stack.samples, "last-hour", "day").values()
    assert total[("requests",)] == len(in_hour)
    spent = sum((Decimal(g["total_cost"]) for g in in_hour), Decimal(0))
    assert total[("cost", "total")] == pytest.approx(float(spent))


def test_budgets_appear_and_archived_or_inactive_ones_do_not(stack: Stack) -> None:
    now = datetime.now(tz=timezone.utc)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "daily": midnight,
        "weekly": midnight - timedelta(days=midnight.weekday()),
        "monthly": midnight.replace(day=1),
    }

    def spent(period: str, keep: Any) -> float:
        gens = [g for g in stack.truth if created(g) >= starts[period] and keep(g)]
        return float(sum((Decimal(g["total_cost"]) for g in gens), Decimal(0)))

    expected = {
        ("team", "prod", "Team monthly", "monthly"): spent("monthly", lambda g: True),
        ("project", "prj_checkout", "Checkout", "weekly"): spent(
            "weekly", lambda g: g["api_key_name"].startswith("prod-")
        ),
        ("api-key", "staging", "Staging key", "daily"): spent(
            "daily", lambda g: g["api_key_name"] == "staging"
        ),
        ("user", "user-ada", "", "monthly"): spent("monthly", lambda g: g["user"] == "user-ada"),
        **{
            ("api-key", key, "", "daily"): spent("daily", lambda g, k=key: g["api_key_name"] == k)
            for key in ("prod-backend", "prod-worker")  # inherited from the team's defaults
        },
    }
    observed = {}
    limits = set()
    sources: dict[tuple[str | None, ...], str | None] = {}
    for sample_name, labels, value in stack.samples:
        key = tuple(labels.get(n) for n in ("scope_type", "scope", "name", "refresh_period"))
        sources[key] = labels.get("budget_source", sources.get(key))
        if sample_name == metrics.BUDGET_SPEND.name:
            observed[key] = value
        if sample_name == metrics.BUDGET_LIMIT.name:
            limits.add(key)
    assert observed == pytest.approx(expected, abs=1e-9)
    assert limits == set(expected), "archived and inactive budgets are left out"
    assert {k for k in expected if sources[k] == "default"} == {
        ("api-key", "prod-backend", "", "daily"),
        ("api-key", "prod-worker", "", "daily"),
    }
    budget_calls = [r for r in stack.sim.requests() if r["endpoint"] == "budgets"]
    assert budget_calls and all(r["status"] == 200 for r in budget_calls)
    assert stack.exp.value(
        metrics.API_REQUESTS, vercel_team="prod", api_endpoint="budgets", code="200"
    )
    for source in ("credits", "reports", "budgets"):
        labels = {"vercel_team": "prod", "source": source}
        assert stack.exp.value(metrics.SOURCE_UP, **labels) == 1, source
        assert stack.exp.value(metrics.SOURCE_LAST_SUCCESS, **labels), source


def test_promtool_passes_with_reports_and_budgets(stack: Stack) -> None:
    body = stack.exp.get("/metrics").content
    assert f"{metrics.REPORT_COST.name}{{".encode() in body
    assert f"{metrics.BUDGET_LIMIT.name}{{".encode() in body
    result = promtool_check_metrics(body)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", result.stderr.decode()


def test_what_the_exporter_spends_is_logged_shown_and_counted(stack: Stack) -> None:
    daily = len(REPORTS) * 96
    line = f"{len(REPORTS)} report(s), at most {daily} queries a day, about {daily * 0.005:.2f} USD"
    assert line in stack.exp.get("/").text
    assert stack.exp.process.output().count("custom reporting enabled: " + line) == 1
    report_calls = [r for r in stack.sim.requests() if r["endpoint"] == "report"]
    assert len(report_calls) == len(REPORTS), "one query per report at start, none per scrape"
    for report in REPORTS:
        labels = {"vercel_team": "prod", "report": report["name"]}
        assert stack.exp.value(metrics.REPORT_QUERIES, **labels, code="200") == 1
        assert stack.exp.value(metrics.REPORT_LAST_SUCCESS, **labels)
    assert stack.exp.value(metrics.REPORT_QUERY_COST, vercel_team="prod") == pytest.approx(
        len(REPORTS) * 0.005
    )
    assert stack.exp.value(
        metrics.API_REQUESTS, vercel_team="prod", api_endpoint="report", code="200"
    ) == len(REPORTS)


def test_a_hobby_plan_pauses_reports_with_one_line_and_the_exporter_stays_healthy(
    simulator_factory: Any, exporter_factory: Any
) -> None:
    sim = simulator_factory("--hobby", f"--api-key=prod={KEY}")
    names = ["a", "b", "c"]
    reports = [{"name": n, "group_by": "model", "window": "today"} for n in names]
    config = {"teams": [{"name": "prod", "api_key_env": "K", "reports": reports}]}
    exp = exporter_factory(sim.url, config=config, env={"K": KEY})
    first = {"vercel_team": "prod", "report": "a", "code": "403"}
    wait_until(
        lambda: exp.value(metrics.REPORT_QUERIES, **first) == 1,
        10,
        what="the first report's 403",
    )
    time.sleep(1.5)  # credits keep polling every second; reports must not
    assert [r["status"] for r in sim.requests() if r["endpoint"] == "report"] == [403]
    for name in names:
        assert exp.value(metrics.REPORT_UP, vercel_team="prod", report=name) == 0
    assert exp.value(metrics.SOURCE_UP, vercel_team="prod", source="reports") == 0
    assert exp.value(metrics.REPORT_PLAN_REQUIRED, vercel_team="prod") == 1
    assert exp.value(metrics.REPORT_QUERY_COST, vercel_team="prod") == 0.005, "a 403 may be billed"
    assert exp.process.output().count("custom reporting refused for team prod") == 1
    assert exp.get("/healthz").status_code == 200
    assert exp.get("/readyz").status_code == 200
    assert exp.value(metrics.SOURCE_UP, vercel_team="prod", source="credits") == 1
    assert "needs a paid plan (" in exp.get("/").text
    assert exp.process.alive()


# --- the poller against an in-process simulator, with an injected clock ------------------------


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


class Live:
    """An in-process simulator on a real socket, a real client, and a poller on a fake clock."""

    def __init__(self, sim: Simulator, url: str) -> None:
        self.sim = sim
        self.url = url
        self.world = sim.world_for(KEY)

    def start(
        self, clock: FakeClock, *reports: dict[str, Any]
    ) -> tuple[ReportsPoller, CollectorRegistry, GatewayClient]:
        registry = CollectorRegistry()
        client = GatewayClient("prod", self.url, StaticKey(KEY), ApiMetrics(registry), clock=clock)
        state = TeamReportsState("prod", [ReportConfig.model_validate(r) for r in reports])
        registry.register(ReportsCollector([state], clock))
        return ReportsPoller(client, state, clock), registry, client

    def sent_report_queries(self) -> list[dict[str, str]]:
        return [
            dict(httpx.QueryParams(r["query"]))
            for r in self.sim.requests
            if r["endpoint"] == "report"
        ]


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    sim = Simulator(api_keys={KEY: "prod"})
    sock = bind("127.0.0.1:0")
    server = AsgiServer(create_app(sim), sock)
    serving = asyncio.create_task(server.serve())
    try:
        yield Live(sim, f"http://127.0.0.1:{bound_port(sock)}")
    finally:
        server.stop()
        await serving


def registry_totals(
    registry: CollectorRegistry, report: str, group_by: str
) -> dict[str | None, dict[tuple[str, ...], float]]:
    samples = [
        (s.name, s.labels, s.value)
        for family in registry.collect()
        for s in family.samples
        if s.name in REPORT_FAMILIES
    ]
    return observed_totals(samples, report, group_by)


async def test_windows_roll_over_at_midnight_and_the_month_boundary(live: Live) -> None:
    clock = FakeClock(at("2027-03-31T23:58:00"))
    for when in ("2027-03-25T12:00:00", "2027-03-26T00:00:00", "2027-03-31T10:00:00"):
        for _ in range(4):
            live.world.generate(at(when), 0.0)
    reports = [
        {"name": "today", "group_by": "model", "window": "today", "interval": "5m"},
        {"name": "mtd", "group_by": "day", "window": "month_to_date", "interval": "5m"},
        {"name": "week", "group_by": "day", "window": "last_7_days", "interval": "5m"},
    ]
    poller, registry, client = live.start(clock, *reports)
    try:
        assert await poller.run_due() == 120 + MIDNIGHT_SETTLE
        march = live.sent_report_queries()
        assert [(q["start_date"], q["end_date"]) for q in march] == [
            ("2027-03-31", "2027-03-31"),
            ("2027-03-01", "2027-03-31"),
            ("2027-03-25", "2027-03-31"),
        ]
        check_windows(live, registry, date(2027, 3, 31))

        clock.advance(120)  # 00:00:00 UTC, 1 April: last month's windows are withheld
        assert registry_totals(registry, "mtd", "day") == {}
        assert registry_totals(registry, "today", "model") == {}
        for _ in range(3):
            live.world.generate(clock.time() + 5, 0.0)

        clock.advance(MIDNIGHT_SETTLE)
        await poller.run_due()
        april = live.sent_report_queries()[3:]
        assert [(q["start_date"], q["end_date"]) for q in april] == [
            ("2027-04-01", "2027-04-01"),
            ("2027-04-01", "2027-04-01"),
            ("2027-03-26", "2027-04-01"),
        ]
        check_windows(live, registry, date(2027, 4, 1))
    finally:
        await client.aclose()


def check_windows(live: Live, registry: CollectorRegistry, today: date) -> None:
    truth = live.world.truth()["generations"]
    windows = {
        "today": ("model", today),
        "mtd": ("day", today.replace(day=1)),
        "week": ("day", today - timedelta(days=6)),
    }
    for report, (group_by, start) in windows.items():
        expected = as_floats(expected_totals(truth, group_by, start, today))
        assert registry_totals(registry, report, group_by) == expected, report


async def test_a_plan_upgrade_resumes_the_reports_at_the_next_hourly_probe(live: Live) -> None:
    clock = FakeClock(at("2027-01-15T08:00:00"))
    live.world.generate(clock.time(), 0.0)
    live.sim.plan = "hobby"
    reports = [{"name": n, "group_by": "model", "window": "today"} for n in ("a", "b")]
    poller, registry, client = live.start(clock, *reports)
    try:
        assert await poller.run_due() == PLAN_PROBE_INTERVAL
        clock.advance(PLAN_PROBE_INTERVAL)
        assert await poller.run_due() == PLAN_PROBE_INTERVAL, "still Hobby: the next probe"
        live.sim.plan = "pro"  # the team upgrades
        clock.advance(PLAN_PROBE_INTERVAL)
        await poller.run_due()
        statuses = [r["status"] for r in live.sim.requests if r["endpoint"] == "report"]
        assert statuses == [403, 403, 200, 200], "a probe an hour, then every report at once"
        plan = registry.get_sample_value(metrics.REPORT_PLAN_REQUIRED.name, {"vercel_team": "prod"})
        assert plan == 0
        for name in ("a", "b"):
            labels = {"vercel_team": "prod", "report": name}
            assert registry.get_sample_value(metrics.REPORT_UP.name, labels) == 1
    finally:
        await client.aclose()


async def test_a_server_error_is_retried_at_most_once_per_interval(live: Live) -> None:
    clock = FakeClock(at("2027-01-15T08:00:00"))
    live.world.generate(clock.time(), 0.0)
    async with httpx.AsyncClient(base_url=live.url) as control:
        fault = {"mode": "server_error", "endpoints": ["report"]}
        (await control.post("/_sim/faults", json=fault)).raise_for_status()
        poller, registry, client = live.start(
            clock, {"name": "r", "group_by": "model", "window": "today", "interval": "5m"}
        )
        try:
            delays = []
            for _ in range(6):
                delays.append(await poller.run_due())
                clock.advance(delays[-1])
            assert delays == [RETRY_DELAY, 300 - RETRY_DELAY] * 3
            assert [r["status"] for r in live.sim.requests if r["endpoint"] == "report"] == [
                500
            ] * 6
            labels = {"vercel_team": "prod", "report": "r"}
            queries = {**labels, "code": "500"}
            assert registry.get_sample_value(metrics.REPORT_QUERIES.name, queries) == 6
            assert registry.get_sample_value(metrics.REPORT_UP.name, labels) == 0
            (await control.delete("/_sim/faults")).raise_for_status()
            assert await poller.run_due() == 300, "the next interval's query succeeds"
            assert registry.get_sample_value(metrics.REPORT_UP.name, labels) == 1
            assert len(live.sent_report_queries()) == 7
        finally:
            await client.aclose()
