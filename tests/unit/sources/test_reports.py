"""Custom Reporting in the exporter: windows, parsing, top-N, the frugal schedule, the gauges."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from exporter import metrics
from exporter.clock import FakeClock
from exporter.config import ReportConfig
from exporter.gateway.errors import (
    AuthError,
    BadRequestError,
    GatewayError,
    InvalidResponseError,
    RateLimitedError,
    ServerError,
)
from exporter.gateway.models import ReportRow, load_json, parse_report
from exporter.metrics import Family
from exporter.sources.reports import (
    MIDNIGHT_SETTLE,
    PLAN_PROBE_INTERVAL,
    RETRY_DELAY,
    ReportsCollector,
    ReportsPoller,
    TeamReports,
    aggregate,
    query_params,
    seconds_to_move,
    window_dates,
)


def at(text: str) -> float:
    """Unix time of an ISO UTC timestamp."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def report(**fields: Any) -> ReportConfig:
    return ReportConfig.model_validate(
        {"name": "r", "group_by": "model", "window": "today", **fields}
    )


# --- windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        ("today", "2027-03-31T23:59:59.999", "2027-03-31", "2027-03-31"),
        ("today", "2027-04-01T00:00:00", "2027-04-01", "2027-04-01"),
        ("month_to_date", "2027-03-31T23:59:59", "2027-03-01", "2027-03-31"),
        ("month_to_date", "2027-04-01T00:00:00", "2027-04-01", "2027-04-01"),
        ("last_7_days", "2027-03-03T12:00:00", "2027-02-25", "2027-03-03"),
        ("last_30_days", "2028-03-01T00:00:00", "2028-02-01", "2028-03-01"),  # leap year
        ("last_30_days", "2027-01-05T06:00:00", "2026-12-07", "2027-01-05"),
        ("last_hour", "2027-04-01T00:10:00", "2027-03-31", "2027-03-31"),  # 23:00 yesterday
        ("last_hour", "2027-04-01T01:00:00", "2027-04-01", "2027-04-01"),
    ],
)
def test_windows_are_inclusive_utc_days(window: str, now: str, start: str, end: str) -> None:
    assert window_dates(window, at(now)) == (date.fromisoformat(start), date.fromisoformat(end))


def test_windows_move_at_utc_midnight_or_on_the_hour() -> None:
    assert seconds_to_move("today", at("2027-03-31T23:50:00")) == 600
    assert seconds_to_move("today", at("2027-04-01T00:00:00")) == 86400
    assert seconds_to_move("last_hour", at("2027-03-31T22:50:00")) == 600
    assert seconds_to_move("last_hour", at("2027-03-31T23:00:00")) == 3600


def test_query_params_carry_dates_grouping_and_filters() -> None:
    config = report(
        group_by="tag",
        filters={
            "model": "openai/gpt-5.4",
            "provider": "azure",
            "user_id": "user-ada",
            "credential_type": "byok",
            "tags": ["chat", "agent"],
            "tags_match": "all",
        },
    )
    assert query_params(config, date(2027, 3, 1), date(2027, 3, 31)) == {
        "start_date": "2027-03-01",
        "end_date": "2027-03-31",
        "group_by": "tag",
        "model": "openai/gpt-5.4",
        "provider": "azure",
        "user_id": "user-ada",
        "credential_type": "byok",
        "tags": "chat,agent",
        "tags_match": "all",
    }
    assert set(query_params(report(), date(2027, 3, 1), date(2027, 3, 1))) == {
        "start_date",
        "end_date",
        "group_by",
    }


def test_estimated_cost_counts_the_daily_queries() -> None:
    team = TeamReports("prod", [report(name="a"), report(name="b", interval="5m")])
    assert team.daily_queries() == 96 + 288
    assert "at most 384 queries a day, about 1.92 USD a day" in team.describe_cost()


# --- parsing ----------------------------------------------------------------------------------


def parse(body: object, group_field: str) -> list[ReportRow]:
    """As the client parses an answer: from JSON bytes, numbers as exact decimals."""
    return parse_report(load_json(json.dumps(body).encode()), group_field)


WITHOUT_TIME = {
    "results": [
        {"model": "a/x", "total_cost": 38.9, "market_cost": 41.2, "request_count": 1702},
        {"model": "b/y", "total_cost": "3.12", "market_cost": 3.12, "request_count": 1300},
    ]
}
WITH_TIME = {
    "results": [
        {"day": "2027-03-01", "model": "a/x", "total_cost": 30.9, "market_cost": 33.2,
         "request_count": 1000},
        {"day": "2027-03-02", "model": "a/x", "total_cost": 8, "market_cost": 8,
         "request_count": 702},
        {"day": "2027-03-02", "model": "b/y", "total_cost": 3.12, "market_cost": 3.12,
         "request_count": 1300},
    ]
}  # fmt: skip


def test_rows_with_and_without_a_time_field_give_the_same_groups() -> None:
    plain = aggregate(parse(WITHOUT_TIME, "model"), "model", 50)
    dated = aggregate(parse(WITH_TIME, "model"), "model", 50)
    assert plain == dated
    assert [(g.value, g.values["total_cost"], int(g.values["request_count"])) for g in plain] == [
        ("a/x", Decimal("38.9"), 1702),
        ("b/y", Decimal("3.12"), 1300),
    ]


def test_zero_data_retention_groups_are_strings_either_way() -> None:
    body = {
        "results": [
            {"zero_data_retention": True, "total_cost": 1},
            {"zero_data_retention": "false", "total_cost": 2},
        ]
    }
    assert [r.group for r in parse(body, "zero_data_retention")] == ["true", "false"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, 'report: expected {"results": [...]}'),
        ({"results": ["x"]}, "report: results[0] is not an object"),
        ({"results": [{"model": "a"}]}, "report: results[0].total_cost is missing"),
        ({"results": [{"total_cost": "n/a"}]}, "report: results[0].total_cost is not a decimal"),
        ({"results": [{"total_cost": 1, "input_tokens": -3}]}, "input_tokens is not a count"),
        ({"results": [{"total_cost": 1, "request_count": 1.5}]}, "request_count is not a count"),
        ({"results": [{"total_cost": 1, "model": 7}]}, "results[0].model is not a string"),
    ],
)
def test_a_malformed_report_is_rejected_whole(body: object, message: str) -> None:
    with pytest.raises(InvalidResponseError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(body, "model")


# --- aggregation ------------------------------------------------------------------------------


def rows(*items: tuple[str | None, str, int]) -> list[ReportRow]:
    return [
        ReportRow(group, {"total_cost": Decimal(cost), "request_count": Decimal(n)})
        for group, cost, n in items
    ]


def test_top_n_sums_the_rest_into_other_and_keeps_the_total() -> None:
    data = rows(("a", "5.5", 1), ("b", "0.25", 2), ("c", "3", 3), ("d", "0.125", 4), ("e", "1", 5))
    groups = aggregate(data, "user", 2)
    assert [(g.value, g.values["total_cost"], int(g.values["request_count"])) for g in groups] == [
        ("a", Decimal("5.5"), 1),
        ("c", Decimal("3"), 3),
        ("other", Decimal("1.375"), 11),
    ]
    assert sum(g.values["total_cost"] for g in groups) == sum(r.values["total_cost"] for r in data)


def test_a_group_named_other_joins_the_other_bucket() -> None:
    groups = aggregate(rows(("a", "5", 1), ("other", "4", 1), ("b", "1", 1)), "tag", 2)
    assert [(g.value, g.values["total_cost"]) for g in groups] == [
        ("a", Decimal(5)),
        ("other", Decimal(5)),
    ]


def test_rows_without_a_group_value_are_labelled_none() -> None:
    (group,) = aggregate(rows((None, "1", 1), ("", "2", 1)), "user", 50)
    assert (group.value, group.values["total_cost"]) == ("none", Decimal(3))


def test_day_reports_are_one_window_total_even_when_empty() -> None:
    (total,) = aggregate(rows(("2027-03-01", "1", 1), ("2027-03-02", "2", 1)), "day", 50)
    assert (total.value, total.values) == (
        None,
        {"total_cost": Decimal(3), "request_count": Decimal(2)},
    )
    (empty,) = aggregate([], "day", 50)
    assert empty.values["total_cost"] == 0 and empty.values["reasoning_tokens"] == 0
    assert aggregate([], "model", 50) == []


def test_metrics_no_row_carries_are_not_invented() -> None:
    (group,) = aggregate(rows(("a", "1", 1)), "model", 50)
    assert set(group.values) == {"total_cost", "request_count"}


# --- the poller's schedule --------------------------------------------------------------------


class ScriptedClient:
    """Answers report queries from a script of rows or errors, recording every query."""

    def __init__(self, *answers: list[ReportRow] | GatewayError) -> None:
        self.answers = list(answers)
        self.queries: list[dict[str, str]] = []

    async def report(self, params: Mapping[str, str], group_field: str) -> list[ReportRow]:
        self.queries.append(dict(params))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, GatewayError):
            raise answer
        return answer


def setup(
    client: ScriptedClient, *configs: ReportConfig, start: str = "2027-01-15T08:00:00"
) -> tuple[FakeClock, TeamReports, ReportsPoller, CollectorRegistry]:
    clock = FakeClock(at(start))
    state = TeamReports("prod", configs or [report(interval="5m")])
    poller = ReportsPoller(client, state, clock)  # type: ignore[arg-type]
    registry = CollectorRegistry()
    registry.register(ReportsCollector([state], clock))
    return clock, state, poller, registry


def sample(registry: CollectorRegistry, family: Family, **labels: str) -> float | None:
    return registry.get_sample_value(family.name, {"vercel_team": "prod", **labels})


async def run_for(clock: FakeClock, poller: ReportsPoller, seconds: float) -> None:
    """Drive the poller as its loop would, for ``seconds`` of fake time."""
    end = clock.monotonic() + seconds
    while True:
        delay = await poller.run_due()
        if clock.monotonic() + delay >= end:
            clock.advance(end - clock.monotonic())
            return
        clock.advance(delay)


GOOD = rows(("a/x", "2.5", 4))


async def test_a_server_error_is_retried_once_per_interval() -> None:
    client = ScriptedClient(ServerError("boom", status=500))
    clock, _, poller, registry = setup(client)
    await run_for(clock, poller, 3 * 300 - 1)
    assert len(client.queries) == 6, "one query and one retry in each of three intervals"
    assert sample(registry, metrics.REPORT_QUERIES, report="r", code="500") == 6
    assert sample(registry, metrics.REPORT_UP, report="r") == 0
    assert sample(registry, metrics.REPORT_QUERY_COST) == 0


async def test_the_retry_comes_after_the_retry_delay_and_can_succeed() -> None:
    client = ScriptedClient(ServerError("boom", status=503), GOOD)
    clock, _, poller, registry = setup(client)
    assert await poller.run_due() == RETRY_DELAY
    clock.advance(RETRY_DELAY)
    assert await poller.run_due() == 300 - RETRY_DELAY, "back on the regular schedule"
    assert sample(registry, metrics.REPORT_UP, report="r") == 1
    assert sample(registry, metrics.REPORT_COST, report="r", window="today", model="a/x",
                  cost_type="total") == 2.5  # fmt: skip
    assert sample(registry, metrics.REPORT_QUERY_COST) == 0.005


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad", status=400),
        AuthError("key rejected", status=401),
        InvalidResponseError("garbage"),
        RateLimitedError("slow down", status=429, retry_after=400),
    ],
)
async def test_errors_a_retry_cannot_fix_wait_for_the_next_interval(error: GatewayError) -> None:
    client = ScriptedClient(error)
    _, _, poller, _ = setup(client)
    assert await poller.run_due() == 300
    assert len(client.queries) == 1


async def test_a_403_pauses_the_team_probes_hourly_and_resumes_after_an_upgrade(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forbidden = AuthError("API key rejected for team prod (403: paid plan)", status=403)
    client = ScriptedClient(GOOD, GOOD, forbidden, forbidden, forbidden, GOOD)
    clock, state, poller, registry = setup(client, report(name="a"), report(name="b"))
    await poller.run_due()
    assert sample(registry, metrics.REPORT_PLAN_REQUIRED) == 0
    clock.advance(900)
    caplog.set_level(logging.INFO, logger="exporter.sources.reports")
    assert await poller.run_due() == PLAN_PROBE_INTERVAL, "a's 403 stops b's query"
    assert len(client.queries) == 3
    assert state.forbidden is not None
    for name in ("a", "b"):
        assert sample(registry, metrics.REPORT_UP, report=name) == 0
    assert sample(registry, metrics.REPORT_PLAN_REQUIRED) == 1
    await run_for(clock, poller, 2 * PLAN_PROBE_INTERVAL + 1)
    assert len(client.queries) == 5, "one probe an hour, not a query per report and interval"
    assert sample(registry, metrics.REPORT_QUERIES, report="a", code="403") == 3
    assert sample(registry, metrics.REPORT_QUERY_COST) == pytest.approx(5 * 0.005), (
        "every answered query counts, probes included"
    )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "custom reporting refused for team prod" in errors[0].message
    clock.advance(PLAN_PROBE_INTERVAL - 1)
    await poller.run_due()  # the plan was upgraded: the probe answers, then b runs at once
    assert len(client.queries) == 7 and state.forbidden is None
    assert sample(registry, metrics.REPORT_PLAN_REQUIRED) == 0
    for name in ("a", "b"):
        assert sample(registry, metrics.REPORT_UP, report=name) == 1
    assert "answers again" in caplog.records[-1].message


async def test_every_report_is_queried_again_just_after_utc_midnight() -> None:
    client = ScriptedClient(GOOD)
    clock, _, poller, registry = setup(client, report(), start="2027-03-31T23:58:00")
    assert await poller.run_due() == 120 + MIDNIGHT_SETTLE, "not the full 5 min interval"
    assert client.queries[-1]["start_date"] == "2027-03-31"
    labels = {"report": "r", "window": "today", "model": "a/x", "cost_type": "total"}
    assert sample(registry, metrics.REPORT_COST, **labels) == 2.5
    clock.advance(120)  # 00:00:00: yesterday's "today" must not be served as today's
    assert sample(registry, metrics.REPORT_COST, **labels) is None
    assert sample(registry, metrics.REPORT_UP, report="r") == 1
    assert await poller.run_due() == MIDNIGHT_SETTLE
    clock.advance(MIDNIGHT_SETTLE)
    await poller.run_due()
    assert client.queries[-1]["start_date"] == "2027-04-01"
    assert sample(registry, metrics.REPORT_COST, **labels) == 2.5


async def test_the_interval_is_cut_short_by_midnight() -> None:
    client = ScriptedClient(GOOD)
    _, _, poller, _ = setup(client, report(interval="1h"), start="2027-03-31T23:50:00")
    assert await poller.run_due() == 600 + MIDNIGHT_SETTLE


async def test_values_are_served_as_labels_named_after_the_dimension() -> None:
    groups = [
        ReportRow(
            "chat",
            {
                "total_cost": Decimal("1.5"),
                "market_cost": Decimal("2"),
                "surcharge_cost": Decimal("0.01"),
                "gateway_cost": Decimal(0),
                "input_tokens": Decimal(10),
                "output_tokens": Decimal(20),
                "cached_input_tokens": Decimal(3),
                "cache_creation_input_tokens": Decimal(4),
                "reasoning_tokens": Decimal(5),
                "request_count": Decimal(6),
            },
        )
    ]
    client = ScriptedClient(groups)
    _, _, poller, registry = setup(
        client, report(name="tags", group_by="tag", window="last_7_days")
    )
    await poller.run_due()
    base = {"report": "tags", "window": "last_7_days", "tag": "chat"}
    costs = {"total": 1.5, "market": 2, "surcharge": 0.01, "gateway": 0}
    for cost_type, expected in costs.items():
        assert sample(registry, metrics.REPORT_COST, **base, cost_type=cost_type) == expected
    tokens = {"input": 10, "output": 20, "cache_read": 3, "cache_write": 4, "reasoning": 5}
    for token_type, expected in tokens.items():
        assert sample(registry, metrics.REPORT_TOKENS, **base, token_type=token_type) == expected
    assert sample(registry, metrics.REPORT_REQUESTS, **base) == 6
    assert sample(registry, metrics.REPORT_LAST_SUCCESS, report="tags") == at("2027-01-15T08:00:00")


# --- filters and the hourly window ------------------------------------------------------------


def test_the_zero_data_retention_filter_and_the_hourly_window_reach_the_query() -> None:
    config = report(window="last_hour", filters={"zero_data_retention": True})
    params = query_params(config, date(2027, 3, 31), date(2027, 3, 31))
    assert params["zero_data_retention"] == "true" and params["date_part"] == "hour"
    off = report(filters={"zero_data_retention": False})
    assert query_params(off, date(2027, 3, 31), date(2027, 3, 31))["zero_data_retention"] == "false"
    assert "date_part" not in query_params(off, date(2027, 3, 31), date(2027, 3, 31))


def hourly(hour: str, group: str | None, cost: str) -> ReportRow:
    return ReportRow(group, {"total_cost": Decimal(cost), "request_count": Decimal(1)}, hour)


@pytest.mark.parametrize("group_by", ["day", "model"])
async def test_an_hourly_report_publishes_the_last_complete_hour(group_by: str) -> None:
    """Both answers the docs allow: group_by=day rows carry only ``hour``; other groupings
    (the docs' own example) carry ``hour`` next to the group."""
    model = None if group_by == "day" else "a/x"
    rows = [
        hourly("2027-03-31T22", model, "1.25"),
        hourly("2027-03-31T23", model, "2"),
        hourly("2027-04-01T00", model, "8"),  # the hour in progress: not complete yet
    ]
    client = ScriptedClient(rows)
    config = report(group_by=group_by, window="last_hour", interval="1h")
    clock, _, poller, registry = setup(client, config, start="2027-04-01T00:10:00")
    assert await poller.run_due() == 50 * 60 + MIDNIGHT_SETTLE, "again just after the hour"
    assert client.queries[-1]["start_date"] == client.queries[-1]["end_date"] == "2027-03-31"
    labels = {"report": "r", "window": "last_hour", "cost_type": "total"}
    if model is not None:
        labels["model"] = model
    assert sample(registry, metrics.REPORT_COST, **labels) == 2
    clock.advance(50 * 60)  # 01:00: 23:00 is no longer the last hour; its value is withheld
    assert sample(registry, metrics.REPORT_COST, **labels) is None


async def test_an_hourly_answer_without_hours_fails_the_report_instead_of_guessing() -> None:
    """The API may ignore date_part for a group_by other than day (its docs say it applies
    to day only): the rows then carry no hour, and no hour's spend can be told apart."""
    client = ScriptedClient([ReportRow("a/x", {"total_cost": Decimal(3)})])
    _, state, poller, registry = setup(client, report(window="last_hour"))
    await poller.run_due()
    assert sample(registry, metrics.REPORT_UP, report="r") == 0
    assert "no hour field" in (state.health.last_error or "")
    assert sample(registry, metrics.REPORT_QUERIES, report="r", code="invalid_response") == 1
    assert sample(registry, metrics.REPORT_QUERY_COST) == 0.005, "the answer was billed"
    assert sample(registry, metrics.REPORT_COST, report="r", window="last_hour",
                  model="a/x", cost_type="total") is None  # fmt: skip


def test_hourly_reports_cost_the_queries_of_every_hour() -> None:
    team = TeamReports("prod", [report(window="last_hour", interval="20m")])
    assert team.daily_queries() == 24 * 3
    assert TeamReports("p", [report(window="last_hour", interval="2h")]).daily_queries() == 24
