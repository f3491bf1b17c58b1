"""Custom Reporting and budgets, computed from a simulated team's own generation history.

``GET /v1/report`` is answered as the reference documents it: inclusive UTC dates, every
``group_by`` and ``date_part``, every filter, one row per tag for tag reports, ``{"results":
[]}`` for an empty range, 403 on a Hobby plan (checked before the parameters), 400 for a bad
parameter. Where the docs contradict each other (``date_part`` with a ``group_by`` other than
``day``), the ``hourly_groups`` mode picks the answer: rows split by time with the time field
next to the group (``split``), or ``date_part`` ignored (``ignored``).

The budgets list has a few budgets per team whose spend follows that team's traffic over the
budget's current UTC refresh period: set ones, and ones inherited from the team's defaults
(``source: "default"``, one per API key that has no budget of its own), some counting BYOK
spend, some with alert thresholds. The ``odd_budgets`` mode adds entries of unexpected shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from exporter.simulator.world import API_KEY_NAMES, SimGeneration, TeamWorld

GROUP_BY = (
    "day",
    "user",
    "model",
    "tag",
    "provider",
    "credential_type",
    "zero_data_retention",
    "api_key_name",
)
PARAMETERS = frozenset(
    {
        "start_date",
        "end_date",
        "group_by",
        "date_part",
        "user_id",
        "model",
        "provider",
        "credential_type",
        "zero_data_retention",
        "tags",
        "tags_match",
    }
)
PLANS = ("pro", "hobby")
FORBIDDEN = {
    "error": {
        "message": "Spend report access requires a paid plan. "
        "Please upgrade your plan to use this feature.",
        "type": "forbidden",
    }
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CHOICES = {
    "group_by": GROUP_BY,
    "date_part": ("day", "hour"),
    "credential_type": ("byok", "system"),
    "zero_data_retention": ("true", "false"),
    "tags_match": ("any", "all"),
}

Answer = tuple[int, dict[str, Any]]


class BadParameter(ValueError):
    """A query the real API answers with 400."""


def _invalid(message: str) -> Answer:
    return 400, {"error": {"message": message, "type": "invalid_request_error"}}


def _date(params: Mapping[str, str], key: str) -> date:
    text = params.get(key)
    if text is None:
        raise BadParameter(f"{key} is required")
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise BadParameter(f"{key} must be in YYYY-MM-DD format") from None


def _checked(params: Mapping[str, str]) -> tuple[date, date]:
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise BadParameter(f"unknown parameter {unknown[0]}")
    start, end = _date(params, "start_date"), _date(params, "end_date")
    if start > end:
        raise BadParameter("start_date must not be after end_date")
    for key, allowed in _CHOICES.items():
        if key in params and params[key] not in allowed:
            raise BadParameter(f"{key} must be one of {', '.join(allowed)}")
    if "tags" in params and not _tags(params):
        raise BadParameter("tags must list at least one tag")
    return start, end


def _tags(params: Mapping[str, str]) -> set[str]:
    return {tag.strip() for tag in params.get("tags", "").split(",") if tag.strip()}


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _attributes(gen: SimGeneration) -> dict[str, str]:
    """A generation's value of every dimension but ``tag``, as the API spells it."""
    return {
        "user": gen.user,
        "model": gen.model,
        "provider": gen.provider_name,
        "credential_type": "byok" if gen.is_byok else "system",
        "zero_data_retention": "true" if gen.zero_data_retention else "false",
        "api_key_name": gen.api_key_name,
    }


# Query filters and the dimension each one compares.
_FILTERS = {
    "user_id": "user",
    "model": "model",
    "provider": "provider",
    "credential_type": "credential_type",
    "zero_data_retention": "zero_data_retention",
}


def dimension(gen: SimGeneration, group_by: str) -> tuple[str, ...]:
    """The group value(s) of a generation: one per tag for ``tag``, else exactly one."""
    if group_by == "tag":
        return gen.tags
    return (_attributes(gen)[group_by],)


def _matches(gen: SimGeneration, params: Mapping[str, str]) -> bool:
    values = _attributes(gen)
    if any(
        key in params and params[key] != values[attribute] for key, attribute in _FILTERS.items()
    ):
        return False
    tags = _tags(params)
    if not tags:
        return True
    if params.get("tags_match") == "all":
        return tags <= set(gen.tags)
    return bool(tags & set(gen.tags))


def _row_keys(
    gen: SimGeneration, params: Mapping[str, str], hourly_groups: str
) -> list[tuple[tuple[str, str], ...]]:
    group_by = params.get("group_by", "day")
    hourly = params.get("date_part") == "hour"
    when = _utc(gen.created_at)
    time_key = ("hour", when.strftime("%Y-%m-%dT%H")) if hourly else ("day", f"{when.date()}")
    if group_by == "day":
        return [(time_key,)]
    split = "date_part" in params and not (hourly and hourly_groups == "ignored")
    by_time = (time_key,) if split else ()
    return [(*by_time, (group_by, value)) for value in dimension(gen, group_by)]


def _metrics(gen: SimGeneration) -> dict[str, Decimal | int]:
    return {
        "total_cost": gen.total_cost,
        "market_cost": gen.market_cost,
        "surcharge_cost": gen.surcharge,
        "gateway_cost": gen.total_cost,  # the total debited, as live reports and the SDK say
        "input_tokens": gen.tokens_prompt,
        "output_tokens": gen.tokens_completion,
        "cached_input_tokens": gen.tokens_cached,
        "cache_creation_input_tokens": gen.tokens_cache_creation,
        "reasoning_tokens": gen.tokens_reasoning,
        "request_count": 1,
    }


def answer_report(
    world: TeamWorld, params: Mapping[str, str], plan: str, hourly_groups: str = "split"
) -> Answer:
    """``(status, body)`` of ``GET /v1/report`` for one team."""
    if plan == "hobby":
        return 403, FORBIDDEN
    try:
        start, end = _checked(params)
    except BadParameter as exc:
        return _invalid(str(exc))
    rows: dict[tuple[tuple[str, str], ...], dict[str, Decimal | int]] = {}
    for gen in list(world.generations.values()):
        if not start <= _utc(gen.created_at).date() <= end or not _matches(gen, params):
            continue
        for key in _row_keys(gen, params, hourly_groups):
            row = rows.get(key)
            if row is None:
                rows[key] = _metrics(gen)
            else:
                for field, value in _metrics(gen).items():
                    row[field] += value
    return 200, {"results": [{**dict(key), **rows[key]} for key in sorted(rows)]}


# --- Budgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimBudget:
    scope_type: str
    scope_id: str
    name: str | None
    limit: Decimal
    refresh_period: str
    covers: Callable[[SimGeneration], bool]
    active: bool = True
    archived: bool = False
    default: bool = False  # inherited from the team's defaults
    include_byok: bool = False
    alert_thresholds: tuple[int, ...] = ()

    def record(self, generations: list[SimGeneration], now: float) -> dict[str, Any]:
        since = period_start(self.refresh_period, now)
        counted = [g for g in generations if g.created_at >= since and self.covers(g)]
        record: dict[str, Any] = {
            "quotaEntityId": (
                f"api_key_id_{self.scope_id}" if self.scope_type == "api-key" else self.scope_id
            ),
            "scopeType": self.scope_type,
            "scopeId": self.scope_id,
            "limitAmount": self.limit,
            "currentSpend": sum((g.total_cost for g in counted), Decimal(0)),
            "currentByokSpend": sum(
                (g.upstream_inference_cost for g in counted if g.is_byok), Decimal(0)
            ),
            "includeByokInQuota": self.include_byok,
            "refreshPeriod": self.refresh_period,
            "active": self.active,
            "archived": self.archived,
            "alertThresholds": list(self.alert_thresholds),
            "createdAt": 1754000000000,
            "updatedAt": 1755000000000,
        }
        if self.name is not None:
            record["name"] = self.name
        if self.default:
            record["source"] = "default"
        return record


def period_start(refresh_period: str, now: float) -> float:
    """Unix time the budget's current period began (UTC boundaries; ``none`` never resets)."""
    today = _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "daily": today,
        "weekly": today - timedelta(days=today.weekday()),
        "monthly": today.replace(day=1),
    }
    start = starts.get(refresh_period)
    return start.timestamp() if start is not None else 0.0


def _is_prod_key(gen: SimGeneration) -> bool:
    return gen.api_key_name.startswith("prod-")


def _key(name: str) -> Callable[[SimGeneration], bool]:
    return lambda g: g.api_key_name == name


def team_budgets(world: TeamWorld) -> tuple[SimBudget, ...]:
    """The team's budgets (its Vercel team ID is its name). The simulated project is the one
    the ``prod-*`` keys belong to; the staging key has a budget set on it, the other keys one
    each inherited from the team's API-key default."""
    return (
        SimBudget(
            "team",
            world.name,
            "Team monthly",
            Decimal(500),
            "monthly",
            lambda g: True,
            include_byok=True,
            alert_thresholds=(50, 75, 100),
        ),
        SimBudget("project", "prj_checkout", "Checkout", Decimal(50), "weekly", _is_prod_key),
        SimBudget(
            "api-key",
            "staging",
            "Staging key",
            Decimal(25),
            "daily",
            _key("staging"),
            alert_thresholds=(75, 100),
        ),
        *(
            SimBudget(
                "api-key",
                key,
                None,
                Decimal(20),
                "daily",
                _key(key),
                default=True,
                alert_thresholds=(50, 75, 100),
            )
            for key in API_KEY_NAMES
            if key != "staging"
        ),
        SimBudget("user", "user-ada", None, Decimal(20), "monthly", lambda g: g.user == "user-ada"),
        SimBudget(
            "team",
            world.name,
            "Old weekly cap",
            Decimal(100),
            "weekly",
            lambda g: True,
            active=False,
            archived=True,
        ),
        SimBudget(
            "project",
            "prj_checkout",
            "Paused daily cap",
            Decimal(10),
            "daily",
            _is_prod_key,
            active=False,
        ),
    )


# Entries of shapes the CLI's type does not allow (the ``odd_budgets`` mode): the exporter must
# leave out, count and log each, and still publish the others.
ODD_BUDGETS: tuple[object, ...] = (
    "not-an-object",
    {"scopeType": "project", "scopeId": "prj_odd", "limitAmount": "lots", "currentSpend": 1},
    {"scopeType": "user", "limitAmount": 10, "currentSpend": 2},
    {"scopeType": "team", "scopeId": "t", "limitAmount": 5, "currentSpend": 1, "active": "yes"},
)


def answer_budgets(world: TeamWorld | None, now: float, odd: bool = False) -> Answer:
    """``(status, body)`` of ``GET /ai-gateway/budgets/list?teamId=…`` (token already checked)."""
    if world is None:
        message = "You don't have access to this team"
        return 403, {"error": {"code": "forbidden", "message": message}}
    generations = list(world.generations.values())
    budgets = [b.record(generations, now) for b in team_budgets(world)]
    return 200, {"budgets": [*budgets, *(ODD_BUDGETS if odd else ())]}


# --- Demo mode --------------------------------------------------------------------------------

DEMO_VERCEL_TOKEN = "demo-vercel-access-token-for-the-bundled-simulator"  # noqa: S105 - a demo
DEMO_GROUPS = ("model", "provider", "user", "tag", "api_key_name")


def backfill(world: TeamWorld, now: float, days: int = 30, per_day: int = 24) -> None:
    """Give the world ``days`` of past traffic, so month-to-date reports start with data."""
    step = 86400 / per_day
    for index in range(days * per_day, 0, -1):
        world.generate(now - index * step, 0.0)


def demo_team_config(world: TeamWorld, simulator_url: str, workdir: Path) -> dict[str, Any]:
    """Reports and budgets for the demo team, as ``TeamConfig`` keyword arguments.

    Backfills a month of history first (reports poll every 5 minutes at the most, so the first
    answer has to show something) and writes the Vercel token file into ``workdir``.
    """
    backfill(world, datetime.now(tz=timezone.utc).timestamp())
    token_file = workdir / "vercel-token"
    token_file.write_text(DEMO_VERCEL_TOKEN)
    return {
        "reports": [
            {
                "name": f"mtd-by-{group}",
                "group_by": group,
                "window": "month_to_date",
                "interval": "5m",
            }
            for group in DEMO_GROUPS
        ]
        + [
            {"name": "today", "group_by": "day", "window": "today", "interval": "5m"},
            # An hourly spend curve without generation IDs, and spend under zero data retention.
            {"name": "last-hour", "group_by": "day", "window": "last_hour", "interval": "5m"},
            {
                "name": "zdr-today-by-model",
                "group_by": "model",
                "window": "today",
                "interval": "5m",
                "filters": {"zero_data_retention": True},
            },
        ],
        "budgets": {
            "token_file": str(token_file),
            "team_id": world.name,
            "url": simulator_url,
            "interval": "1m",
        },
    }
