"""One typed configuration, merged from defaults < YAML file < environment < flags.

Every option of a section is reachable three ways with one spelling rule:
YAML ``credits: {max_staleness: 5m}``, environment ``AI_GATEWAY_EXPORTER_CREDITS_MAX_STALENESS``,
flag ``--credits.max-staleness``. Teams (several API keys) are YAML only. Validation errors
name the key path and where the bad value came from, so a typo never starts a half-working
exporter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from exporter.config.errors import ConfigError, describe_errors
from exporter.config.schema import SECTIONS, Config, parse_duration

ENV_PREFIX = "AI_GATEWAY_EXPORTER_"

# Flags spelt as the rest of the Prometheus ecosystem spells them (exporter-toolkit).
FLAG_SPELLINGS = {"web.config_file": "--web.config.file"}


@dataclass(frozen=True)
class Option:
    """One section option and its three spellings."""

    section: str
    name: str
    description: str
    default: Any
    repeatable: bool = False
    duration: bool = False

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def flag(self) -> str:
        return FLAG_SPELLINGS.get(self.key, f"--{self.section}.{self.name.replace('_', '-')}")

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.section.upper()}_{self.name.upper()}"


def options() -> Iterator[Option]:
    """Every flag-able option, in a stable order, for ``--help`` and docs/configuration.md."""
    for section, model in SECTIONS.items():
        for name, field in model.model_fields.items():
            repeatable = getattr(field.annotation, "__origin__", None) is list
            default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
            duration = any(getattr(m, "func", None) is parse_duration for m in field.metadata)
            yield Option(section, name, field.description or "", default, repeatable, duration)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is ``{}``).

    A syntax error names the line, never the text: these files sit next to secrets.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"invalid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping")
    return data


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        return read_yaml_mapping(path)
    except ConfigError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def _set_path(target: dict[str, Any], key: str, value: Any) -> None:
    section, name = key.split(".", 1)
    existing = target.get(section)
    if not isinstance(existing, dict):
        existing = {}
    target[section] = {**existing, name: value}


def load_config(
    config_file: Path | None,
    environ: Mapping[str, str],
    flags: Mapping[str, Any],
) -> Config:
    """Merge the sources (flags win over environment, which wins over YAML) and validate.

    ``flags`` maps option keys (``credits.interval``) to values given on the command line.
    """
    raw: dict[str, Any] = _load_yaml(config_file) if config_file else {}
    for option in options():
        if option.env in environ:
            value: Any = environ[option.env]
            if option.repeatable:
                value = [item.strip() for item in value.split(",") if item.strip()]
            _set_path(raw, option.key, value)
    for key, value in flags.items():
        _set_path(raw, key, value)
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("invalid configuration: " + describe_errors(exc, Config)) from None
