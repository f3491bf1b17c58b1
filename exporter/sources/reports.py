"""Custom Reporting (``GET /v1/report``): a poller per team and the collector of its gauges.

Vercel bills every query ($5 per 1,000), so the poller is frugal by construction: reports run
one after another at their own interval (5 minutes at least), a failed query is retried at
most once before its next interval, and a 403 (Hobby and Pro-trial plans cannot use the
endpoint) pauses the team's reports: one probe an hour, instead of paying for the same answer
at every interval, finds out when the team's plan changes. What the exporter itself spends is
published next to what it reports.

Windows are UTC days, as the API counts them, or the last complete UTC hour (an hourly query,
``date_part=hour``). Every report is queried again just after its window moves (UTC midnight,
or the hour), and a scrape withholds values whose window is no longer the current one, so
"today" never shows yesterday's total.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import ClassVar

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.clock import Clock
from exporter.config import ReportConfig
from exporter.gateway.client import GatewayClient
from exporter.gateway.errors import GatewayError, InvalidResponseError
from exporter.gateway.models import REPORT_COUNT_FIELDS, REPORT_MONEY_FIELDS, ReportRow
from exporter.labels import safe_label
from exporter.metrics import (
    REPORT_COST,
    REPORT_LAST_SUCCESS,
    REPORT_PLAN_REQUIRED,
    REPORT_QUERIES,
    REPORT_QUERY_COST,
    REPORT_REQUESTS,
    REPORT_TOKENS,
    REPORT_UP,
)
from exporter.sources.base import PolledSource
from exporter.sources.health import Health
from exporter.teams import Team

log = logging.getLogger(__name__)

QUERY_PRICE_USD = Decimal("0.005")  # $5 per 1,000 queries
RETRY_DELAY = 60.0  # the one retry of a failed query, unless Retry-After asks for longer
MIDNIGHT_SETTLE = 30.0  # re-query this long after a window moves (UTC midnight, or the hour)
PLAN_PROBE_INTERVAL = 3600.0  # while the API answers 403, one probe query an hour
OTHER = "other"  # the group holding everything beyond a report's top_n
NO_VALUE = "none"  # the label value of rows without one (e.g. requests without a user ID)
SECONDS_PER_DAY = 86400
SECONDS_PER_HOUR = 3600
HOURLY = "last_hour"  # the window of an hourly query: the last complete UTC hour

FIELDS = (*REPORT_MONEY_FIELDS, *REPORT_COUNT_FIELDS)
COST_TYPES = {
    "total": "total_cost",
    "market": "market_cost",
    "surcharge": "surcharge_cost",
    "gateway": "gateway_cost",
}
TOKEN_TYPES = {  # token_type label: report field
    "input": "input_tokens",
    "output": "output_tokens",
    "cache_read": "cached_input_tokens",
    "cache_write": "cache_creation_input_tokens",
    "reasoning": "reasoning_tokens",
}

_WINDOW_START: dict[str, Callable[[date], date]] = {
    "today": lambda today: today,
    "month_to_date": lambda today: today.replace(day=1),
    "last_7_days": lambda today: today - timedelta(days=6),
    "last_30_days": lambda today: today - timedelta(days=29),
}


def last_hour(now: float) -> datetime:
    """The start of the last complete UTC hour at Unix time ``now``."""
    return datetime.fromtimestamp(now - now % SECONDS_PER_HOUR - SECONDS_PER_HOUR, timezone.utc)


def window_dates(window: str, now: float) -> tuple[date, date]:
    """The inclusive UTC ``(start_date, end_date)`` of a window at Unix time ``now``."""
    if window == HOURLY:
        day = last_hour(now).date()
        return day, day
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    return _WINDOW_START[window](today), today


def window_key(window: str, now: float) -> tuple[str, ...]:
    """What identifies the window at ``now``: its dates, or for the hourly one its hour, as
    the API spells it in ``hour`` (``YYYY-MM-DDTHH``)."""
    if window == HOURLY:
        return (last_hour(now).strftime("%Y-%m-%dT%H"),)
    return tuple(d.isoformat() for d in window_dates(window, now))


def seconds_to_move(window: str, now: float) -> float:
    """Seconds until the window moves: the next UTC hour for the hourly window, the next UTC
    midnight for the others (Unix time has no leap seconds)."""
    period = SECONDS_PER_HOUR if window == HOURLY else SECONDS_PER_DAY
    return period - now % period


def query_params(report: ReportConfig, start: date, end: date) -> dict[str, str]:
    """The query string of one report: its dates, its grouping and its filters."""
    params = {
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "group_by": report.group_by,
    }
    if report.window == HOURLY:
        params["date_part"] = "hour"
    filters = report.filters
    for key in ("model", "provider", "user_id", "credential_type", "tags_match"):
        value = getattr(filters, key)
        if value is not None:
            params[key] = value
    if filters.zero_data_retention is not None:
        params["zero_data_retention"] = "true" if filters.zero_data_retention else "false"
    if filters.tags:
        params["tags"] = ",".join(filters.tags)
    return params


def queries_per_day(report: ReportConfig) -> int:
    """At most this many regular queries a day (the schedule restarts when the window moves:
    at UTC midnight, or every hour for the hourly window)."""
    if report.window == HOURLY:
        return 24 * math.ceil(SECONDS_PER_HOUR / min(report.interval, SECONDS_PER_HOUR))
    return math.ceil(SECONDS_PER_DAY / report.interval)


def rows_of_hour(rows: Sequence[ReportRow], hour: str) -> list[ReportRow]:
    """The rows of one hour of an hourly answer. Raises InvalidResponseError when the answer
    has rows but none carries an ``hour``: the API then ignored ``date_part=hour`` (its docs
    say it applies to ``group_by=day`` only, its examples use it with other groupings), and
    no row can be told apart by hour."""
    if rows and all(row.hour is None for row in rows):
        raise InvalidResponseError(
            "report: the answer to date_part=hour has no hour field, so it cannot give the "
            "last hour (the API applies date_part only to some group_by values; use group_by: "
            "day for an hourly total)"
        )
    return [row for row in rows if row.hour == hour]


@dataclass(frozen=True)
class Group:
    """One published group: its label value (None for a window total) and summed metrics."""

    value: str | None
    values: dict[str, Decimal]


def _rank(item: tuple[str | None, dict[str, Decimal]]) -> tuple[Decimal, Decimal, str]:
    key, values = item
    return (-values["total_cost"], -values.get("market_cost", Decimal(0)), key or "")


def aggregate(rows: Sequence[ReportRow], group_by: str, top_n: int) -> list[Group]:
    """Sum rows per group (rows of one group may come per day), keep the ``top_n`` groups by
    cost and sum the rest into ``other``, so the groups still add up to the report's total.

    A metric no row carries is left out rather than published as 0; an empty ``day`` report
    is a window total of 0.
    """
    present = [f for f in FIELDS if not rows or any(f in row.values for row in rows)]
    sums: dict[str | None, dict[str, Decimal]] = {}
    if group_by == "day":
        sums[None] = dict.fromkeys(present, Decimal(0))
    for row in rows:
        key = None if group_by == "day" else safe_label(row.group or NO_VALUE)
        target = sums.setdefault(key, dict.fromkeys(present, Decimal(0)))
        for field, value in row.values.items():
            target[field] += value
    ranked = sorted(sums.items(), key=_rank)
    kept, rest = ranked[:top_n], ranked[top_n:]
    if rest:
        rest += [item for item in kept if item[0] == OTHER]
        kept = [item for item in kept if item[0] != OTHER]
    groups = [Group(key, values) for key, values in kept]
    if rest:
        other = dict.fromkeys(present, Decimal(0))
        for _, values in rest:
            for field in present:
                other[field] += values[field]
        groups.append(Group(OTHER, other))
    return groups


@dataclass(frozen=True)
class Snapshot:
    window: tuple[str, ...]  # window_key at the query
    groups: list[Group]


class ReportState:
    """What the poller last learned for one report; read by scrapes."""

    def __init__(self, config: ReportConfig) -> None:
        self.config = config
        self.snapshot: Snapshot | None = None
        self.up = False
        self.last_success: float | None = None
        self.queries: dict[str, int] = {"200": 0}  # by code, started at 0 for rate()


class TeamReports:
    """One team's reports and what its queries cost."""

    def __init__(self, team: str, reports: Sequence[ReportConfig]) -> None:
        self.team = team
        self.reports = [ReportState(report) for report in reports]
        self.query_cost = Decimal(0)
        self.forbidden: str | None = None  # the 403 that paused the team's reports
        self.health = Health()  # up while every report's last query succeeded

    def refreshed(self, report: ReportState, now: float) -> None:
        report.up, report.last_success = True, now
        if all(other.up for other in self.reports):
            self.health.succeeded(now)
        else:
            self.health.last_success = now

    def failed(self, report: ReportState, message: str) -> None:
        report.up = False
        self.health.failed(message)

    def daily_queries(self) -> int:
        return sum(queries_per_day(state.config) for state in self.reports)

    def describe_cost(self) -> str:
        cost = (self.daily_queries() * QUERY_PRICE_USD).quantize(Decimal("0.01"))
        return (
            f"{len(self.reports)} report(s), at most {self.daily_queries()} queries a day, "
            f"about {cost} USD a day (Vercel bills 5 USD per 1,000 queries)"
        )


class ReportsPoller:
    """Runs one team's reports one after another, each on its own schedule; after a 403, one
    probe an hour until the plan allows them again."""

    def __init__(self, client: GatewayClient, state: TeamReports, clock: Clock) -> None:
        self._client = client
        self._state = state
        self._clock = clock
        start = clock.monotonic()
        self._due = {report.config.name: start for report in state.reports}
        self._next_slot = dict(self._due)  # when the report's next regular query is due
        self._retried: set[str] = set()
        self._probe_at = start  # while forbidden: when the next probe is due

    async def run(self) -> None:
        log.info(
            "custom reporting enabled: " + self._state.describe_cost(),
            extra={"team": self._state.team},
        )
        while True:
            await self._clock.sleep(await self.run_due())

    async def run_due(self) -> float:
        """Query every report that is due now (only a probe while the plan refuses them);
        returns the seconds until the next one is."""
        if self._state.forbidden is not None and self._probe_at <= self._clock.monotonic():
            await self._query(self._state.reports[0])  # the hourly probe
        for report in self._state.reports:
            if self._state.forbidden is not None:
                break
            if self._due[report.config.name] <= self._clock.monotonic():
                await self._query(report)
        if self._state.forbidden is not None:
            return max(0.0, self._probe_at - self._clock.monotonic())
        return max(0.0, min(self._due.values()) - self._clock.monotonic())

    async def _query(self, report: ReportState) -> None:
        key, config = report.config.name, report.config
        now, mono = self._clock.time(), self._clock.monotonic()
        if key not in self._retried:  # a regular query opens a new interval
            self._next_slot[key] = mono + min(
                config.interval, seconds_to_move(config.window, now) + MIDNIGHT_SETTLE
            )
        start, end = window_dates(config.window, now)
        window = window_key(config.window, now)
        try:
            rows = await self._client.report(query_params(config, start, end), config.group_by)
            if config.window == HOURLY:
                rows = rows_of_hour(rows, window[0])
        except GatewayError as exc:
            report.queries[exc.code] = report.queries.get(exc.code, 0) + 1
            if exc.status == 403 or isinstance(exc, InvalidResponseError):
                self._state.query_cost += QUERY_PRICE_USD  # answered, so (maybe) billed
            self._state.failed(report, exc.message)
            self._failed(report, exc, mono)
            return
        report.queries["200"] += 1
        self._state.query_cost += QUERY_PRICE_USD
        if self._state.forbidden is not None:
            self._allowed_again()
        report.snapshot = Snapshot(window, aggregate(rows, config.group_by, config.top_n))
        self._state.refreshed(report, self._clock.time())
        self._retried.discard(key)
        self._due[key] = self._next_slot[key]

    def _allowed_again(self) -> None:
        """A probe succeeded: every report is due now."""
        log.info(
            f"custom reporting answers again for team {self._state.team}; resuming its reports",
            extra={"team": self._state.team},
        )
        self._state.forbidden = None
        mono = self._clock.monotonic()
        self._due = dict.fromkeys(self._due, mono)
        self._retried.clear()

    def _failed(self, report: ReportState, exc: GatewayError, mono: float) -> None:
        key, team = report.config.name, self._state.team
        if exc.status == 403 or self._state.forbidden is not None:  # any failed probe too
            self._probe_at = mono + PLAN_PROBE_INTERVAL
            if exc.status == 403:
                if self._state.forbidden is None:
                    log.error(
                        f"custom reporting refused for team {team}: {exc.message}; Hobby and "
                        "Pro-trial plans cannot use /v1/report, so the exporter now asks once "
                        "an hour (each probe is a billed query) and resumes the reports when it "
                        "answers",
                        extra={"team": team, "report": report.config.name, "code": exc.code},
                    )
                self._state.forbidden = exc.message
                for other in self._state.reports:
                    other.up = False
            return
        retry_at = mono + max(RETRY_DELAY, exc.retry_after or 0.0)
        retry = exc.retryable and key not in self._retried and retry_at < self._next_slot[key]
        if retry:
            self._retried.add(key)
            self._due[key] = retry_at
        else:
            self._retried.discard(key)
            self._due[key] = self._next_slot[key]
        log.warning(
            "report query failed",
            extra={
                "team": team,
                "report": report.config.name,
                "code": exc.code,
                "error": exc.message,
                "retry_in": round(self._due[key] - mono),
            },
        )


class ReportsCollector(Collector):
    """Report gauges, per-report health and what the queries cost, from the pollers' state."""

    def __init__(self, teams: Sequence[TeamReports], clock: Clock) -> None:
        self._teams = teams
        self._clock = clock

    def collect(self) -> Iterable[Metric]:
        cost = REPORT_COST.free_labels()
        tokens = REPORT_TOKENS.free_labels()
        requests = REPORT_REQUESTS.free_labels()
        success = REPORT_LAST_SUCCESS.gauge()
        up = REPORT_UP.gauge()
        queries = REPORT_QUERIES.counter()
        spent = REPORT_QUERY_COST.counter()
        plan = REPORT_PLAN_REQUIRED.gauge()
        now = self._clock.time()
        for team in self._teams:
            spent.add_metric([team.team], float(team.query_cost))
            plan.add_metric([team.team], 0.0 if team.forbidden is None else 1.0)
            for report in team.reports:
                labels = [team.team, report.config.name]
                up.add_metric(labels, 1.0 if report.up else 0.0)
                for code, count in sorted(report.queries.items()):
                    queries.add_metric([*labels, code], float(count))
                if report.last_success is not None:
                    success.add_metric(labels, report.last_success)
                snapshot = report.snapshot
                current = window_key(report.config.window, now)
                if snapshot is not None and snapshot.window == current:
                    _add_groups(team.team, report.config, snapshot.groups, cost, tokens, requests)
        return [cost, tokens, requests, success, up, queries, spent, plan]


def _add_groups(
    team: str,
    config: ReportConfig,
    groups: Sequence[Group],
    cost: Metric,
    tokens: Metric,
    requests: Metric,
) -> None:
    for group in groups:
        labels = {"vercel_team": team, "report": config.name, "window": config.window}
        if group.value is not None:
            labels[config.group_by] = group.value
        values = group.values
        for cost_type, field in COST_TYPES.items():
            if field in values:
                cost.add_sample(cost.name, {**labels, "cost_type": cost_type}, float(values[field]))
        for token_type, field in TOKEN_TYPES.items():
            if field in values:
                tokens.add_sample(
                    tokens.name, {**labels, "token_type": token_type}, float(values[field])
                )
        if "request_count" in values:
            requests.add_sample(requests.name, labels, float(values["request_count"]))


class ReportsSource(PolledSource):
    """Every team's reports: their state, pollers, collector and landing page notes."""

    name: ClassVar[str] = "reports"

    def __init__(
        self, teams: Sequence[Team], clients: Mapping[str, GatewayClient], clock: Clock
    ) -> None:
        self.teams = [TeamReports(t.name, t.config.reports) for t in teams if t.config.reports]
        super().__init__(
            {state.team: state.health for state in self.teams},
            [ReportsPoller(clients[s.team], s, clock) for s in self.teams],
            ReportsCollector(self.teams, clock),
        )

    def notes(self) -> list[str]:
        """One line per team for the landing page: what its reports cost, or why they wait."""
        return [
            f"Custom Reporting, team {t.team}: "
            + (
                f"needs a paid plan ({t.forbidden}); probed once an hour"
                if t.forbidden
                else t.describe_cost()
            )
            for t in self.teams
        ]
