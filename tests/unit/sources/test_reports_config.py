"""Report and budget configuration: one test per rule, each with the exact message shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporter.clock import FakeClock
from exporter.config import ConfigError, load_config
from exporter.gateway.keys import StaticKey
from exporter.metrics import ApiMetrics
from exporter.sources.budgets import BudgetsSource
from exporter.teams import Team, resolve_teams


def team(**extra: Any) -> dict[str, Any]:
    return {"teams": [{"name": "prod", "api_key_env": "K", **extra}]}


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path, {}, {})


def error_for(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, data)
    return str(caught.value).removeprefix("invalid configuration: ")


MODEL_TODAY = {"name": "by-model", "group_by": "model", "window": "today"}


def test_a_full_example_loads_with_its_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        team(
            reports=[
                MODEL_TODAY,
                {
                    "name": "chat-users",
                    "group_by": "user",
                    "window": "month_to_date",
                    "interval": "1h",
                    "top_n": 20,
                    "filters": {"tags": ["chat"], "tags_match": "all", "credential_type": "byok"},
                },
            ],
            budgets={"token_file": "/run/secrets/vercel-token", "team_id": "team_a1b2c3"},
        ),
    )
    first, second = config.teams[0].reports
    assert (first.interval, first.top_n, first.filters.tags) == (900.0, 50, None)
    assert (second.interval, second.top_n, second.filters.tags) == (3600.0, 20, ["chat"])
    budgets = config.teams[0].budgets
    assert (budgets.interval, budgets.url) == (300.0, "https://api.vercel.com")


@pytest.mark.parametrize(
    ("report", "message"),
    [
        (
            {**MODEL_TODAY, "interval": "1m"},
            "teams[0].reports[0].interval: must be at least 5m",
        ),
        (
            {**MODEL_TODAY, "group_by": "team"},
            "teams[0].reports[0].group_by: Input should be 'model', 'provider', 'user', 'tag', "
            "'credential_type', 'api_key_name', 'zero_data_retention' or 'day'",
        ),
        (
            {**MODEL_TODAY, "window": "yesterday"},
            "teams[0].reports[0].window: Input should be 'today', 'month_to_date', "
            "'last_7_days', 'last_30_days' or 'last_hour'",
        ),
        (
            {**MODEL_TODAY, "top_n": 0},
            "teams[0].reports[0].top_n: Input should be greater than or equal to 1",
        ),
        (
            {**MODEL_TODAY, "name": "by model"},
            "teams[0].reports[0].name: 'by model' is not a valid report name (letters, digits, "
            "'_', '.', '-'; at most 63)",
        ),
        (
            {"name": "x", "group_by": "model"},
            "teams[0].reports[0].window: is required",
        ),
        (
            {**MODEL_TODAY, "filters": {"tag": ["chat"]}},
            "teams[0].reports[0].filters.tag: unknown key (did you mean 'tags'?)",
        ),
        (
            {**MODEL_TODAY, "filters": {"tags_match": "all"}},
            "teams[0].reports[0].filters: tags_match needs tags",
        ),
        (
            {**MODEL_TODAY, "filters": {"tags": ["chat,eval"]}},
            "teams[0].reports[0].filters.tags[0]: 'chat,eval' is not a tag (no commas)",
        ),
        (
            {**MODEL_TODAY, "filters": {"credential_type": "oidc"}},
            "teams[0].reports[0].filters.credential_type: Input should be 'byok' or 'system'",
        ),
    ],
)
def test_report_rules(tmp_path: Path, report: dict[str, Any], message: str) -> None:
    assert error_for(tmp_path, team(reports=[report])) == message


def test_report_names_are_unique_per_team(tmp_path: Path) -> None:
    assert error_for(tmp_path, team(reports=[MODEL_TODAY, MODEL_TODAY])) == (
        "teams[0]: reports[1].name: 'by-model' is used by another report"
    )


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        ({"team_id": "team_a1"}, "teams[0].budgets.token_file: is required"),
        ({"token_file": "/t", "team_id": "my team"}, "teams[0].budgets.team_id: 'my team' is not "
         "a Vercel team ID (e.g. team_a1b2c3)"),
        ({"token_file": "/t", "team_id": "t", "interval": "10s"},
         "teams[0].budgets.interval: must be at least 1m"),
        ({"token_file": "/t", "team_id": "t", "url": "api.vercel.com"},
         "teams[0].budgets.url: 'api.vercel.com' is not an http(s) URL "
         "(e.g. https://ai-gateway.vercel.sh)"),
        ({"token": "x", "token_file": "/t", "team_id": "t"},
         "teams[0].budgets.token: unknown key (did you mean 'token_file'?)"),
    ],
)  # fmt: skip
def test_budget_rules(tmp_path: Path, budgets: dict[str, Any], message: str) -> None:
    assert error_for(tmp_path, team(budgets=budgets)) == message


def test_an_unreadable_token_file_stops_the_start(tmp_path: Path) -> None:
    config = load(tmp_path, team(budgets={"token_file": str(tmp_path / "nope"), "team_id": "t"}))
    (resolved,) = resolve_teams(config, {"K": "sk-config-0123456789"})
    with pytest.raises(ConfigError) as caught:
        BudgetsSource([resolved], ApiMetrics(CollectorRegistry()), FakeClock(), 10.0)
    assert str(caught.value).startswith("teams[0] (prod): budgets.token_file: no such file")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    config = load(tmp_path, team(budgets={"token_file": str(empty), "team_id": "t"}))
    only = Team("prod", StaticKey("sk-config-0123456789"), config.teams[0])
    with pytest.raises(ConfigError, match=r"budgets.token_file .*empty is empty"):
        BudgetsSource([only], ApiMetrics(CollectorRegistry()), FakeClock(), 10.0)
