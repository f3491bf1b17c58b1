"""Configured teams resolved to their key sources, checked once at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.config import Config, ConfigError, TeamConfig
from exporter.gateway.keys import EnvKey, FileKey, KeySource

DEFAULT_TEAM = "default"
DEFAULT_KEY_VARS = ("AI_GATEWAY_API_KEY", "VERCEL_OIDC_TOKEN")


@dataclass(frozen=True)
class Team:
    name: str
    key: KeySource
    config: TeamConfig


def resolve_teams(config: Config, environ: Mapping[str, str]) -> list[Team]:
    """The configured teams, or one team ``default`` keyed from the environment."""
    if not config.teams:
        var = next((v for v in DEFAULT_KEY_VARS if environ.get(v, "").strip()), None)
        if var is None:
            raise ConfigError(
                "no API key: set AI_GATEWAY_API_KEY (or VERCEL_OIDC_TOKEN), list teams in "
                "--config.file, or run with --demo to try the exporter against its simulator"
            )
        team = TeamConfig(name=DEFAULT_TEAM, api_key_env=var)
        return [Team(team.name, EnvKey(var, dict(environ)), team)]
    teams = []
    for index, team in enumerate(config.teams):
        try:
            key: KeySource = (
                FileKey(team.api_key_file)
                if team.api_key_file is not None
                else EnvKey(str(team.api_key_env), dict(environ))
            )
        except ConfigError as exc:
            raise ConfigError(f"teams[{index}] ({team.name}): {exc}") from None
        teams.append(Team(team.name, key, team))
    return teams
