"""One test per invalid configuration, each asserting the exact message the user sees."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import ConfigError, load_config, options, parse_duration
from exporter.teams import resolve_teams


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def error_for(tmp_path: Path, data: Any, env: dict[str, str] | None = None) -> str:
    def load_and_resolve() -> None:
        resolve_teams(load_config(write(tmp_path, data), env or {}, {}), env or {})

    with pytest.raises(ConfigError) as caught:
        load_and_resolve()
    return str(caught.value)


def test_defaults() -> None:
    config = load_config(None, {}, {})
    assert config.web.listen_address == ":9853"
    assert config.gateway.url == "https://ai-gateway.vercel.sh"
    assert (config.credits.interval, config.credits.max_staleness) == (60.0, 600.0)
    assert (config.log.level, config.log.format) == ("info", "logfmt")


def test_precedence_flags_over_env_over_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"credits": {"interval": "30s", "max_staleness": "20m"}, "log": {"level": "warn"}}
    )
    env = {"AI_GATEWAY_EXPORTER_CREDITS_INTERVAL": "45s", "AI_GATEWAY_EXPORTER_LOG_LEVEL": "error"}
    config = load_config(path, env, {"credits.interval": "2m"})
    assert config.credits.interval == 120.0  # flag
    assert config.log.level == "error"  # env over YAML
    assert config.credits.max_staleness == 1200.0  # YAML over default


def test_unknown_key(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"intervall": "5s"}}) == (
        "invalid configuration: credits.intervall: unknown key (did you mean 'interval'?)"
    )


def test_unknown_section(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credit": {"interval": "5s"}}) == (
        "invalid configuration: credit: unknown key (did you mean 'credits'?)"
    )


def test_odd_keys_are_quoted_so_the_message_stays_on_one_line(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"inter\nval": "5s"}, "web.x": {}}) == (
        "invalid configuration: credits['inter\\nval']: unknown key (did you mean 'interval'?); "
        "['web.x']: unknown key (did you mean 'web'?)"
    )


def test_unknown_team_key(tmp_path: Path) -> None:
    data = {"teams": [{"name": "prod", "api_key_env": "K", "api_key": "sk-inline"}]}
    assert error_for(tmp_path, data) == (
        "invalid configuration: teams[0].api_key: unknown key (did you mean 'api_key_env'?)"
    )


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("https://ai-gateway.vercel.sh/v1", "https://ai-gateway.vercel.sh"),  # as Vercel documents
        ("https://ai-gateway.vercel.sh/v1/", "https://ai-gateway.vercel.sh"),
        ("http://127.0.0.1:9854/some/prefix?x=1", "http://127.0.0.1:9854"),
        ("https://ai-gateway.vercel.sh", "https://ai-gateway.vercel.sh"),
    ],
)
def test_the_gateway_url_is_used_by_its_origin_as_the_official_sdk_does(
    given: str, used: str
) -> None:
    """The endpoints add /v1 themselves: a copied /v1 must not become /v1/v1/credits."""
    assert load_config(None, {}, {"gateway.url": given}).gateway.url == used


def test_bad_url(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"gateway": {"url": "ai-gateway.vercel.sh"}}) == (
        "invalid configuration: gateway.url: 'ai-gateway.vercel.sh' is not an http(s) URL "
        "(e.g. https://ai-gateway.vercel.sh)"
    )


def test_bad_duration(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"interval": "1 minute"}}) == (
        "invalid configuration: credits.interval: '1 minute' is not a duration "
        "(use e.g. 30s, 5m, 1h)"
    )


def test_duration_without_unit(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"interval": 60}}) == (
        "invalid configuration: credits.interval: 60 has no unit (write e.g. 60s)"
    )


def test_interval_too_short(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"interval": "100ms"}}) == (
        "invalid configuration: credits.interval: must be at least 1s"
    )


def test_bad_log_level(tmp_path: Path) -> None:
    message = error_for(tmp_path, {"log": {"level": "verbose"}})
    assert message == (
        "invalid configuration: log.level: Input should be 'debug', 'info', 'warn' or 'error'"
    )


def test_missing_key() -> None:
    config = load_config(None, {}, {})
    with pytest.raises(ConfigError) as caught:
        resolve_teams(config, {"AI_GATEWAY_API_KEY": "  "})
    assert str(caught.value) == (
        "no API key: set AI_GATEWAY_API_KEY (or VERCEL_OIDC_TOKEN), list teams in "
        "--config.file, or run with --demo to try the exporter against its simulator"
    )


def test_team_key_env_not_set(tmp_path: Path) -> None:
    data = {"teams": [{"name": "prod", "api_key_env": "PROD_KEY"}]}
    assert error_for(tmp_path, data) == (
        "teams[0] (prod): environment variable PROD_KEY is not set"
    )


def test_a_key_file_that_is_no_file_is_not_named(tmp_path: Path) -> None:
    """A key written where its file's path belongs would be printed whole at start."""
    for value in (str(tmp_path / "missing"), "vck_written_where_the_path_belongs_0123"):
        data = {"teams": [{"name": "prod", "api_key_file": value}]}
        message = error_for(tmp_path, data)
        assert message.startswith("teams[0] (prod): api_key_file: no such file"), message
        assert Path(value).name not in message


def test_a_key_written_as_the_variable_name_is_not_printed(tmp_path: Path) -> None:
    data = {"teams": [{"name": "prod", "api_key_env": "vck_not_a_name_0123456789"}]}
    message = error_for(tmp_path, data)
    assert "not an environment variable's name" in message
    assert "vck_not_a_name" not in message


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    key = tmp_path / "key"
    key.write_text("vck_0123456789\n")
    key.chmod(0)
    data = {"teams": [{"name": "prod", "api_key_file": str(key)}]}
    assert error_for(tmp_path, data) == (
        f"teams[0] (prod): api_key_file {key}: cannot read: Permission denied"
    )


def test_empty_key_file(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("\n")
    data = {"teams": [{"name": "prod", "api_key_file": str(tmp_path / "key")}]}
    assert error_for(tmp_path, data) == (
        f"teams[0] (prod): api_key_file {tmp_path / 'key'} is empty"
    )


def test_two_teams_with_one_name(tmp_path: Path) -> None:
    data = {"teams": [{"name": "prod", "api_key_env": "A"}, {"name": "prod", "api_key_env": "B"}]}
    assert error_for(tmp_path, data) == (
        "invalid configuration: teams[1].name: 'prod' is used by another team"
    )


def test_team_needs_exactly_one_key_source(tmp_path: Path) -> None:
    data = {"teams": [{"name": "prod", "api_key_env": "A", "api_key_file": "/k"}]}
    assert error_for(tmp_path, data) == (
        "invalid configuration: teams[0]: set exactly one of api_key_env or api_key_file"
    )


def test_invalid_yaml(tmp_path: Path) -> None:
    assert error_for(tmp_path, "credits:\n  interval: [5s\n").startswith(
        f"config file {tmp_path / 'config.yaml'}: invalid YAML at line"
    )


def test_staleness_shorter_than_interval(tmp_path: Path) -> None:
    assert error_for(tmp_path, {"credits": {"interval": "5m", "max_staleness": "1m"}}) == (
        "invalid configuration: credits.max_staleness must be at least credits.interval"
    )


def test_duration_grammar() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1d") == 86400


def test_every_option_has_help_and_three_spellings() -> None:
    for option in options():
        assert option.description, option.key
        assert option.flag.startswith("--") and option.env.startswith("AI_GATEWAY_EXPORTER_")


@pytest.mark.parametrize("path", ["/", "/healthz", "/readyz", "/generations", "/openapi.json"])
def test_the_metrics_path_cannot_shadow_a_built_in_route(path: str) -> None:
    with pytest.raises(ConfigError, match="must be an absolute path other than the built-in"):
        load_config(None, {}, {"web.telemetry_path": path})
    assert load_config(None, {}, {"web.telemetry_path": "/custom"}).web.telemetry_path == "/custom"
