"""The chart renders for every ci/ scenario, lints clean, refuses bad values with a message
that names the value, and everything it renders is valid Kubernetes: the core objects against
the API schemas of the oldest and newest supported minor versions, the Prometheus Operator
objects against the operator's models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

from tests.chart.rendering import (
    CHART_DIR,
    NAMESPACE,
    RELEASE,
    SCENARIOS,
    chart,
    render,
    render_scenario,
    scenario_values,
)

# The chart's kubeVersion floor and the newest minor kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
OPERATOR_MODELS = {
    "ServiceMonitor": monitoring.ServiceMonitor,
    "PrometheusRule": monitoring.PrometheusRule,
}
# Gateway API objects: no schema of theirs installs here, tests/chart/test_drain_route.py checks
# what the chart renders of them field by field.
GATEWAY_API_KINDS = {"HTTPRoute"}
EXPECTED_SCENARIOS = {
    "existing-secret",
    "inline-key",
    "several-teams",
    "persistence",
    "existing-claim",
    "two-replicas",
    "monitoring",
    "hardened",
    "drain",
}


def test_every_documented_scenario_exists() -> None:
    assert set(SCENARIOS) == EXPECTED_SCENARIOS


def test_kube_version_floor_is_the_oldest_version_validated() -> None:
    metadata = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert metadata["kubeVersion"] == f">={KUBERNETES_VERSIONS[0]}-0"


@pytest.mark.parametrize("scenario", sorted(EXPECTED_SCENARIOS))
def test_lint_is_clean(scenario: str) -> None:
    report = helm_python.lint(CHART_DIR, scenario_values(scenario), strict=True)
    assert report["errors"] == []
    assert report["messages"] == []


def test_defaults_alone_refuse_to_render_without_a_key() -> None:
    # No key means an exporter that cannot start: the install stops, saying what to set.
    with pytest.raises(helm_python.HelmRenderError, match=r"no API key: set apiKey\.existing"):
        render()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"apiKey": {"vaule": "x"}}, r"'/apiKey'.*additional properties 'vaule'", id="typo"
        ),
        pytest.param(
            {"replicaCount": "2"}, r"'/replicaCount': got string, want integer", id="type"
        ),
        pytest.param(
            {"serviceMonitor": {"interval": "1 minute"}},
            r"'/serviceMonitor/interval'",
            id="duration",
        ),
        pytest.param(
            {"config": {"credits": {"intervall": "2m"}}},
            r"'/config/credits'.*additional properties 'intervall'",
            id="exporter-option-typo",
        ),
        pytest.param(
            {"config": {"state": {"path": "/data/state.db"}}},
            r"'/config/state'.*additional properties 'path'",
            id="chart-owned-option",
        ),
        pytest.param(
            {"prometheusRule": {"alerts": {"VercelAIGatewayCreditLow": {"enabled": False}}}},
            r"additional properties 'VercelAIGatewayCreditLow'",
            id="unknown-alert",
        ),
        pytest.param(
            {"teams": [{"name": "prod", "value": "k", "alerts": {"credits_low": 5}}]},
            r"'/teams/0/alerts'.*additional properties 'credits_low'",
            id="threshold-typo",
        ),
        pytest.param(
            {"log": {"level": "debug"}}, r"additional properties 'log' not allowed", id="top-level"
        ),
    ],
)
def test_schema_rejects_bad_values_naming_them(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError, match=message):
        chart().validate_schema(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"apiKey": {"value": "k"}, "teams": [{"name": "a", "value": "k"}]},
            "set either apiKey",
            id="both-key-forms",
        ),
        pytest.param(
            {"teams": [{"name": "a", "value": "k"}, {"name": "a", "value": "j"}]},
            r"teams\[1\]\.name: \"a\" is used by another team",
            id="duplicate-team",
        ),
        pytest.param(
            {"teams": [{"name": "a", "value": "k", "existingSecret": {"name": "s", "key": "k"}}]},
            r"teams\[0\] \(a\): set existingSecret or value, not both",
            id="key-twice",
        ),
        pytest.param(
            {"teams": [{"name": "a", "value": "k", "budgets": {"team_id": "team_1"}}]},
            r"teams\[0\] \(a\)\.budgets: set existingSecret\.name or value",
            id="budgets-without-token",
        ),
        pytest.param(
            {
                "apiKey": {"value": "k"},
                "replicaCount": 2,
                "persistence": {"enabled": True, "existingClaim": "state"},
            },
            "existingClaim holds the state of one pod",
            id="one-claim-two-pods",
        ),
    ],
)
def test_inconsistent_values_fail_with_a_message(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(values)


def _core_objects() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{scenario}/{obj['kind']}/{obj['metadata']['name']}", obj)
        for scenario in sorted(EXPECTED_SCENARIOS)
        for obj in render_scenario(scenario).objects
        if obj["kind"] not in OPERATOR_MODELS and obj["kind"] not in GATEWAY_API_KINDS
    ]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_objects_are_valid_kubernetes_strictly(version: str) -> None:
    errors = []
    for where, obj in _core_objects():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {exc.message} at {list(exc.path)}")
    assert errors == []


def test_operator_objects_are_valid_and_have_no_unknown_fields() -> None:
    seen = set()
    for scenario in sorted(EXPECTED_SCENARIOS):
        for obj in render_scenario(scenario).objects:
            model = OPERATOR_MODELS.get(obj["kind"])
            if model is None:
                continue
            seen.add(obj["kind"])
            parsed = model.model_validate(obj)
            # The models ignore unknown keys: a round trip that loses nothing has none.
            assert parsed.model_dump(exclude_unset=True, by_alias=True, mode="json") == obj
    assert seen == set(OPERATOR_MODELS)


def test_packaged_chart_carries_the_linked_files_and_renders_the_same(tmp_path: Path) -> None:
    # files/ links into grafana/; the package must hold the files themselves, not the links.
    archive = Path(helm_python.package(CHART_DIR, destination=tmp_path))
    packaged = helm_python.Chart.load_archive(archive.read_bytes())
    assert [f["name"] for f in packaged.files if f["name"].endswith(".py")] == []
    values = scenario_values("monitoring")
    assert packaged.render(values, name=RELEASE, namespace=NAMESPACE) == chart().render(
        values, name=RELEASE, namespace=NAMESPACE
    )
