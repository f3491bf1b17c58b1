"""The exporter's configuration, one package along its seams:

- ``schema``: every section as a strict pydantic model, its options' checks, defaults and
  documentation;
- ``loading``: defaults < YAML file < environment < flags, merged and validated, and the three
  spellings of each option;
- ``errors``: ``ConfigError`` and the messages that name a bad key, never its value.

Importers use the names re-exported here.
"""

from exporter.config.errors import ConfigError, describe_errors
from exporter.config.loading import ENV_PREFIX, Option, load_config, options, read_yaml_mapping
from exporter.config.schema import (
    DEFAULT_PORT,
    SECTIONS,
    AlertThresholds,
    AttributionConfig,
    BudgetsConfig,
    CatalogConfig,
    Config,
    CreditsConfig,
    DrainConfig,
    GatewayConfig,
    GenerationsConfig,
    GroupBy,
    IngestConfig,
    LogConfig,
    LookupConfig,
    OtlpConfig,
    ReportConfig,
    ReportFilters,
    StateConfig,
    StrictModel,
    TeamConfig,
    WebConfig,
    format_duration,
    parse_duration,
)

__all__ = [
    "DEFAULT_PORT",
    "ENV_PREFIX",
    "SECTIONS",
    "AlertThresholds",
    "AttributionConfig",
    "BudgetsConfig",
    "CatalogConfig",
    "Config",
    "ConfigError",
    "CreditsConfig",
    "DrainConfig",
    "GatewayConfig",
    "GenerationsConfig",
    "GroupBy",
    "IngestConfig",
    "LogConfig",
    "LookupConfig",
    "Option",
    "OtlpConfig",
    "ReportConfig",
    "ReportFilters",
    "StateConfig",
    "StrictModel",
    "TeamConfig",
    "WebConfig",
    "describe_errors",
    "format_duration",
    "load_config",
    "options",
    "parse_duration",
    "read_yaml_mapping",
]
