"""The chart's values, its schema, its README and the exporter agree with each other: every
value is documented and typed, and the schema's idea of the exporter's configuration is the
exporter's own (so a key renamed in exporter/config/schema.py fails here, not in a cluster)."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
import yaml
from cloudcoil.models.prometheus_operator.v1 import PrometheusRuleSpec
from pydantic import BaseModel

from exporter import __version__
from exporter.config import (
    SECTIONS,
    AlertThresholds,
    BudgetsConfig,
    LogConfig,
    ReportConfig,
    ReportFilters,
    TeamConfig,
)
from tests.chart.rendering import CHART_DIR, chart_values
from tests.support.processes import REPO_ROOT
from tools.values_table import documented, readme_table, table

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
# Exporter options the chart sets itself, which values must not be able to override.
CHART_OWNED = {
    "web.listen_address",
    "web.config_file",
    "ingest.token_file",
    "state.path",
    "drain.secret_file",
    "drain.verify_code_file",
}
# Chart keys standing in for the exporter's file paths: a Secret reference or an inline value.
SECRET_KEYS = {"existingSecret", "value"}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    resolved: dict[str, Any] = SCHEMA
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def _properties(node: dict[str, Any]) -> set[str]:
    return set(_resolve(node)["properties"])


def _leaves(node: Any, path: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, f"{path}{key}.")]
    return [path.rstrip(".")]


def test_app_version_is_the_package_version() -> None:
    metadata = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert metadata["appVersion"] == __version__
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "exporter.__version__" }' in pyproject


def test_readme_values_table_is_generated_from_values_yaml() -> None:
    assert readme_table() == table(), "run: python -m tools.values_table --write"


def test_every_value_is_documented() -> None:
    keys = [doc.key for doc in documented()]
    assert len(keys) == len(set(keys))
    undocumented = [
        leaf
        for leaf in _leaves(chart_values())
        if not any(leaf == key or leaf.startswith(f"{key}.") for key in keys)
    ]
    assert undocumented == []
    assert all(doc.description.strip() for doc in documented())


def _walk_schema(values: Any, schema: dict[str, Any], path: str, out: list[str]) -> None:
    """Values and schema name the same keys, wherever the schema lists them."""
    schema = _resolve(schema)
    if not (isinstance(values, dict) and values and "properties" in schema):
        return
    assert schema.get("additionalProperties") is False, f"{path or 'top'} accepts any key"
    listed = set(schema["properties"]) - {"global"}
    if set(values) != listed:
        out.append(f"{path or 'top'}: values {sorted(set(values))} != schema {sorted(listed)}")
    for key, value in values.items():
        if key in schema["properties"]:
            _walk_schema(value, schema["properties"][key], f"{path}.{key}".lstrip("."), out)


def test_schema_and_values_name_the_same_keys() -> None:
    mismatches: list[str] = []
    _walk_schema(chart_values(), SCHEMA, "", mismatches)
    assert mismatches == []


def test_every_schema_object_with_listed_keys_refuses_others() -> None:
    def check(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, path
            for key, value in node.items():
                check(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                check(item, f"{path}/{index}")

    check(SCHEMA, "#")


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_config_sections_are_the_exporters_minus_what_the_chart_sets() -> None:
    config = SCHEMA["properties"]["config"]["properties"]
    assert set(config) == set(SECTIONS)
    for section, model in SECTIONS.items():
        expected = {f for f in _fields(model) if f"{section}.{f}" not in CHART_OWNED}
        assert _properties(config[section]) == expected, section


@pytest.mark.parametrize(
    ("definition", "model", "replaced"),
    [
        ("alertThresholds", AlertThresholds, set()),
        ("report", ReportConfig, set()),
        ("budgets", BudgetsConfig, {"token_file"}),
        ("team", TeamConfig, {"api_key_env", "api_key_file"}),
    ],
)
def test_team_blocks_are_the_exporters_with_secrets_as_references(
    definition: str, model: type[BaseModel], replaced: set[str]
) -> None:
    # The files of a team's trace drain are references too, under one key: drain.
    drain = {"drain_secret_file", "drain_verify_code_file"} & _fields(model)
    expected = _fields(model) - replaced - drain | (SECRET_KEYS if replaced else set())
    assert _properties(SCHEMA["definitions"][definition]) == expected | (
        {"drain"} if drain else set()
    )


def test_report_filters_are_the_exporters() -> None:
    filters = SCHEMA["definitions"]["report"]["properties"]["filters"]
    assert _properties(filters) == _fields(ReportFilters)


def _enum(model: type[BaseModel], field: str) -> set[str]:
    return set(get_args(model.model_fields[field].annotation))


def test_enumerations_match_the_exporters() -> None:
    config = SCHEMA["properties"]["config"]["properties"]
    for field in ("level", "format"):
        assert set(config["log"]["properties"][field]["enum"]) == _enum(LogConfig, field)
    report = SCHEMA["definitions"]["report"]["properties"]
    for field in ("group_by", "window"):
        assert set(report[field]["enum"]) == _enum(ReportConfig, field)


def test_per_alert_overrides_name_exactly_the_shipped_alerts() -> None:
    rules = yaml.safe_load((REPO_ROOT / "grafana/rules/vercel-ai-gateway.rules.yaml").read_text())
    names = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    alerts = SCHEMA["properties"]["prometheusRule"]["properties"]["alerts"]
    assert set(alerts["properties"]) == names


def test_extra_groups_take_every_field_of_an_operator_rule_group() -> None:
    groups = PrometheusRuleSpec.model_fields["groups"].annotation  # Optional[List[Group]]
    (group_list,) = [arg for arg in get_args(groups) if arg is not type(None)]
    (group,) = get_args(group_list)
    extra = SCHEMA["properties"]["prometheusRule"]["properties"]["extraGroups"]["items"]
    assert set(extra["properties"]) == {f.alias or name for name, f in group.model_fields.items()}
