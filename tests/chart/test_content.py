"""What the chart renders: secret wiring, security, probes, labels, the workload kind, and the
rules and dashboard exactly as shipped under grafana/."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import metrics
from tests.chart.rendering import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    SCENARIOS,
    Obj,
    Rendered,
    chart_values,
    mount_path,
    render,
    render_scenario,
    scenario_values,
    secret_files,
)
from tests.support.processes import REPO_ROOT

RULES_FILE = REPO_ROOT / "grafana" / "rules" / "vercel-ai-gateway.rules.yaml"
RUNBOOK_URL = (
    "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter/blob/main/"
    "grafana/RUNBOOK.md#"
)
DASHBOARDS = sorted((REPO_ROOT / "grafana" / "dashboards").glob("*.json"))
EXISTING = {"apiKey": {"existingSecret": {"name": "ai-gateway", "key": "api-key"}}}
# Inline credentials of the inline-key scenario: they may appear in its Secret and nowhere else.
INLINE_SECRETS = ("vck_ci-inline-key-4f1d2e3c", "ci-ingest-token-9a8b7c")


def _strings(node: Any) -> list[str]:
    """Every string in a parsed object, keys included."""
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)]


# --- Credentials -------------------------------------------------------------------------


def test_inline_credentials_live_in_the_secret_only() -> None:
    rendered = render_scenario("inline-key")
    assert scenario_values("inline-key")["apiKey"]["value"] == INLINE_SECRETS[0]
    everything_else = "\n".join(s for obj in rendered.non_secret_objects() for s in _strings(obj))
    for secret in INLINE_SECRETS:
        assert secret not in everything_else
        assert base64.b64encode(secret.encode()).decode() not in everything_else
        assert secret not in rendered.notes
    stored = rendered.one("Secret", FULLNAME)["data"]
    assert {base64.b64decode(v).decode() for v in stored.values()} == set(INLINE_SECRETS)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_credentials_are_files_named_in_the_config(scenario: str) -> None:
    rendered = render_scenario(scenario)
    container = rendered.container
    # Nothing secret by environment or flag: only values, no secretKeyRef.
    assert all("valueFrom" not in env for env in container.get("env", []))
    assert not any("key" in arg.lower() or "token" in arg.lower() for arg in container["args"])
    secrets_dir = mount_path(rendered, "secrets")
    files = secret_files(rendered)
    config = rendered.exporter_config
    referenced = [Path(team["api_key_file"]) for team in config["teams"]]
    referenced += [Path(t["budgets"]["token_file"]) for t in config["teams"] if "budgets" in t]
    if "token_file" in config.get("ingest", {}):
        referenced.append(Path(config["ingest"]["token_file"]))
    drain_files = ("drain_secret_file", "drain_verify_code_file")
    referenced += [
        Path(t[option]) for t in config["teams"] for option in drain_files if option in t
    ]
    referenced += [Path(path) for path in config.get("drain", {}).values()]
    assert sorted(referenced) == sorted(secrets_dir / path for path in files)
    assert not any("api_key_env" in team for team in config["teams"])
    # Each file comes from the Secret the values name, or from the chart's own Secret.
    managed = rendered.of_kind("Secret")
    managed_keys = set(managed[0]["data"]) if managed else set()
    for secret, key in files.values():
        assert (secret, key) in _named_secret_refs(scenario) or (
            secret == FULLNAME and key in managed_keys
        )


def _named_secret_refs(scenario: str) -> set[tuple[str, str]]:
    """(Secret, key) of every existingSecret the scenario names, chart defaults filled in."""
    values, defaults = scenario_values(scenario), chart_values()
    blocks = [(values.get(n, {}), defaults[n]["existingSecret"]) for n in ("apiKey", "ingestToken")]
    drain, default_drain = values.get("drain", {}), defaults["drain"]
    blocks += [(drain.get(p, {}), default_drain[p]["existingSecret"]) for p in default_drain]
    for team in values.get("teams", []):
        blocks += [(team, {}), (team.get("budgets", {}), {})]
        blocks += [(part, {}) for part in team.get("drain", {}).values()]
    refs = [
        {**default, **block["existingSecret"]}
        for block, default in blocks
        if block.get("existingSecret")
    ]
    return {(ref["name"], ref["key"]) for ref in refs}


def test_several_teams_get_their_keys_thresholds_reports_and_budgets() -> None:
    values = scenario_values("several-teams")
    config = render_scenario("several-teams").exporter_config
    teams = {team["name"]: team for team in config["teams"]}
    assert list(teams) == [team["name"] for team in values["teams"]]
    prod = values["teams"][0]
    # A team's own thresholds win key by key over alertThresholds.
    assert teams["prod"]["alerts"] == {**values["alertThresholds"], **prod["alerts"]}
    assert teams["staging"]["alerts"] == values["alertThresholds"]
    assert teams["prod"]["reports"] == prod["reports"]
    assert "reports" not in teams["staging"]
    budgets = dict(prod["budgets"])
    del budgets["existingSecret"]
    assert {k: v for k, v in teams["prod"]["budgets"].items() if k != "token_file"} == budgets


def test_user_config_is_passed_through() -> None:
    values = scenario_values("inline-key")
    config = render_scenario("inline-key").exporter_config
    for section, options in values["config"].items():
        assert config[section] == options


def test_web_config_secret_is_mounted_whole_and_named_in_the_config() -> None:
    rendered = render_scenario("hardened")
    web = scenario_values("hardened")["webConfig"]["existingSecret"]
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == "web-config"]
    assert volume["secret"]["secretName"] == web["name"]
    assert "items" not in volume["secret"]  # certificates next to the file stay reachable
    default_key = chart_values()["webConfig"]["existingSecret"]["key"]
    expected = mount_path(rendered, "web-config") / default_key
    assert Path(rendered.exporter_config["web"]["config_file"]) == expected


# --- Security ----------------------------------------------------------------------------

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def _pods(rendered: Rendered) -> list[Obj]:
    """Every pod spec: the workload's and the test hook's."""
    return [rendered.pod_spec] + [p["spec"] for p in rendered.of_kind("Pod")]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_pod_is_restricted(scenario: str) -> None:
    rendered = render_scenario(scenario)
    pods = _pods(rendered)
    assert len(pods) == 2
    for pod in pods:
        assert pod["securityContext"].items() >= RESTRICTED_POD.items()
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"].items() >= RESTRICTED_CONTAINER.items()
    context = rendered.pod_spec["securityContext"]
    assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] == 65532
    (account,) = rendered.of_kind("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert rendered.pod_spec["serviceAccountName"] == account["metadata"]["name"]


def test_writable_paths_are_volumes() -> None:
    # The root filesystem is read-only: the state directory and /tmp must be volumes.
    rendered = render_scenario("existing-secret")
    mounts = {m["mountPath"]: m for m in rendered.container["volumeMounts"]}
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    for path in ("/var/lib/vercel-ai-gateway-exporter", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]["name"]]
        assert not mounts[path].get("readOnly", False)
    state = rendered.container["env"][0]
    assert state["name"] == "AI_GATEWAY_EXPORTER_STATE_PATH"
    assert Path(state["value"]).parent == mount_path(rendered, "state")
    for name in ("config", "secrets"):
        assert mounts[str(mount_path(rendered, name))]["readOnly"] is True


DEFAULT_TIMING = {"timeoutSeconds": 5, "failureThreshold": 3}


def test_probes_use_the_health_endpoints_by_name() -> None:
    container = render_scenario("existing-secret").container
    assert container["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"},
        "periodSeconds": 10,
        **DEFAULT_TIMING,
    }
    assert container["readinessProbe"] == {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 5,
        **DEFAULT_TIMING,
    }
    # A first start that migrates a large state file has minutes before liveness counts.
    assert container["startupProbe"] == {
        "httpGet": {"path": "/healthz", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 5,
        "failureThreshold": 60,
    }
    assert container["ports"] == [{"name": "http", "containerPort": 9853, "protocol": "TCP"}]
    assert "resources" not in container  # none by default: the user sizes them


def test_a_probe_handler_is_replaced_and_timings_are_kept() -> None:
    # A tcpSocket readiness probe (basic auth) must not keep the default's httpGet: a probe
    # with two handlers is rejected by the API server.
    values = scenario_values("hardened")
    container = render_scenario("hardened").container
    assert container["readinessProbe"] == {**values["readinessProbe"], **DEFAULT_TIMING}
    assert container["livenessProbe"] == {
        **values["livenessProbe"],
        "periodSeconds": 10,
        **DEFAULT_TIMING,
    }
    # Under TLS the startup probe asks over HTTPS, as the liveness probe it takes its handler from.
    assert container["startupProbe"] == {
        "httpGet": values["livenessProbe"]["httpGet"],
        "periodSeconds": 5,
        "timeoutSeconds": 5,
        "failureThreshold": 60,
    }
    slower = render(EXISTING | {"livenessProbe": {"periodSeconds": 30}}).container
    assert slower["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert slower["livenessProbe"]["periodSeconds"] == 30


# --- Labels, selectors, workload ---------------------------------------------------------


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_selectors_select_exactly_the_exporter_pods(scenario: str) -> None:
    rendered = render_scenario(scenario)
    workload = rendered.workload
    selector = workload["spec"]["selector"]["matchLabels"]
    assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert pod_labels.items() >= selector.items()
    assert rendered.one("Service")["spec"]["selector"] == selector
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for obj in rendered.of_kind(kind):
            key = "podSelector" if kind == "NetworkPolicy" else "selector"
            assert obj["spec"][key]["matchLabels"] == selector
    for monitor in rendered.of_kind("ServiceMonitor"):
        assert monitor["spec"]["selector"]["matchLabels"] == selector
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    # The test pod must never receive the Service's traffic.
    for pod in rendered.of_kind("Pod"):
        assert not pod["metadata"]["labels"].items() >= selector.items()
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "rel"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_common_labels_reach_every_object() -> None:
    rendered = render_scenario("hardened")
    labels = scenario_values("hardened")["commonLabels"]
    for obj in rendered.objects:
        assert obj["metadata"]["labels"].items() >= labels.items()


@pytest.mark.parametrize(
    ("scenario", "kind", "replicas", "claims"),
    [
        ("existing-secret", "Deployment", 1, 0),
        ("existing-claim", "Deployment", 1, 0),
        ("persistence", "StatefulSet", 1, 1),
        ("two-replicas", "StatefulSet", 2, 1),
    ],
)
def test_workload_kind_follows_persistence(
    scenario: str, kind: str, replicas: int, claims: int
) -> None:
    rendered = render_scenario(scenario)
    workload = rendered.workload
    assert workload["kind"] == kind
    assert workload["spec"]["replicas"] == replicas
    assert len(workload["spec"].get("volumeClaimTemplates", [])) == claims
    assert rendered.of_kind("PersistentVolumeClaim") == []  # never one claim for several pods
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    if kind == "StatefulSet":
        assert workload["spec"]["serviceName"] == rendered.one("Service")["metadata"]["name"]
        assert "state" not in volumes  # each pod's claim comes from the template
        (template,) = workload["spec"]["volumeClaimTemplates"]
        assert template["metadata"]["name"] == "state"
    elif scenario == "existing-claim":
        claim = scenario_values(scenario)["persistence"]["existingClaim"]
        assert volumes["state"]["persistentVolumeClaim"] == {"claimName": claim}
        assert workload["spec"]["strategy"] == {"type": "Recreate"}


def test_claim_template_carries_the_storage_settings() -> None:
    persistence = scenario_values("persistence")["persistence"]
    (template,) = render_scenario("persistence").workload["spec"]["volumeClaimTemplates"]
    assert template["spec"] == {
        "accessModes": chart_values()["persistence"]["accessModes"],
        "storageClassName": persistence["storageClass"],
        "resources": {"requests": {"storage": persistence["size"]}},
    }
    dash = render(EXISTING | {"persistence": {"enabled": True, "storageClass": "-"}})
    (template,) = dash.workload["spec"]["volumeClaimTemplates"]
    assert template["spec"]["storageClassName"] == ""


def test_a_config_change_rolls_the_pods_and_a_key_change_does_not() -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = render(values).workload["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    base = {"apiKey": {"value": "key-one"}}
    assert checksum(base) == checksum({"apiKey": {"value": "key-two"}})
    assert checksum(base) != checksum(base | {"config": {"log": {"level": "debug"}}})


def test_image_defaults_to_app_version_and_a_digest_pins_it() -> None:
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    image = chart_values()["image"]
    repository = f"{image['registry']}/{image['repository']}"
    assert render_scenario("existing-secret").container["image"] == f"{repository}:{app_version}"
    digest = "sha256:" + "ab" * 32
    pinned = render(EXISTING | {"image": {"tag": "9.9.9", "digest": digest}}).container
    assert pinned["image"] == f"{repository}:9.9.9@{digest}"


def test_extra_args_env_and_volumes_are_appended() -> None:
    values = scenario_values("hardened")
    container = render_scenario("hardened").container
    assert container["args"][1:] == values["extraArgs"]
    assert container["env"][1:] == values["extraEnv"]
    volume: Obj = {"name": "app-logs", "emptyDir": {}}
    mount: Obj = {"name": "app-logs", "mountPath": "/var/log/app", "readOnly": True}
    rendered = render(EXISTING | {"extraVolumes": [volume], "extraVolumeMounts": [mount]})
    assert rendered.pod_spec["volumes"][-1] == volume
    assert rendered.container["volumeMounts"][-1] == mount


def test_network_policy_admits_the_listed_peers_and_the_test_pod() -> None:
    rendered = render_scenario("hardened")
    policy = rendered.one("NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress stays open: DNS, HTTPS
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    peers = scenario_values("hardened")["networkPolicy"]["from"]
    assert rule["from"][: len(peers)] == peers
    test_pod_labels = rendered.one("Pod")["metadata"]["labels"]
    assert test_pod_labels.items() >= rule["from"][-1]["podSelector"]["matchLabels"].items()
    open_policy = render(EXISTING | {"networkPolicy": {"enabled": True}}).one("NetworkPolicy")
    assert "from" not in open_policy["spec"]["ingress"][0]


def test_connection_test_hits_healthz_through_the_service() -> None:
    rendered = render_scenario("existing-secret")
    pod = rendered.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    service = rendered.one("Service")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/healthz"
    assert pod["spec"]["containers"][0]["command"][-1] == url


def test_notes_tell_how_to_reach_metrics_and_send_ids() -> None:
    notes = render_scenario("several-teams").notes
    assert f"port-forward service/{FULLNAME} 9853:9853" in notes
    assert "http://127.0.0.1:9853/metrics" in notes
    assert f"http://{FULLNAME}.{NAMESPACE}.svc:9853/generations" in notes
    assert "Authorization: Bearer" in notes  # the several-teams scenario has an ingest token
    assert '"team": "prod"' in notes


# --- ServiceMonitor ----------------------------------------------------------------------


def test_service_monitor_scrapes_the_service_port_with_the_default_label_handling() -> None:
    rendered = render_scenario("monitoring")
    values = scenario_values("monitoring")["serviceMonitor"]
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["labels"].items() >= values["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == rendered.one("Service")["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    # No exporter label clashes with a target label (api_endpoint, vercel_team), so nothing
    # needs honorLabels, and neither the chart nor its values offer it.
    assert "honorLabels" not in endpoint
    assert "honorLabels" not in chart_values()["serviceMonitor"]
    assert endpoint["interval"] == chart_values()["serviceMonitor"]["interval"]
    assert endpoint["scrapeTimeout"] == values["scrapeTimeout"]
    assert endpoint["metricRelabelings"] == values["metricRelabelings"]


def test_service_monitor_follows_the_telemetry_path_and_scrape_auth() -> None:
    values = EXISTING | {
        "serviceMonitor": {"enabled": True, "namespace": "prom"},
        "config": {"web": {"telemetry_path": "/exporter/metrics"}},
    }
    monitor = render(values).one("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "prom"
    assert monitor["spec"]["endpoints"][0]["path"] == "/exporter/metrics"
    hardened = scenario_values("hardened")["serviceMonitor"]
    (endpoint,) = render_scenario("hardened").one("ServiceMonitor")["spec"]["endpoints"]
    for key in ("scheme", "tlsConfig", "basicAuth"):
        assert endpoint[key] == hardened[key]


# --- PrometheusRule and dashboard: the files under grafana/, exactly ---------------------


def _shipped_groups() -> list[Obj]:
    groups: list[Obj] = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return groups


def _rule_spec(values: dict[str, Any]) -> Obj:
    spec: Obj = render(EXISTING | {"prometheusRule": values}).one("PrometheusRule")["spec"]
    return spec


def test_chart_files_are_links_to_grafana() -> None:
    files = CHART_DIR / "files"
    assert (files / RULES_FILE.name).resolve() == RULES_FILE
    assert (files / "dashboards").resolve() == DASHBOARDS[0].parent


def test_prometheus_rule_without_overrides_is_the_shipped_file() -> None:
    assert _rule_spec({"enabled": True}) == {"groups": _shipped_groups()}


def test_prometheus_rule_applies_overrides_and_nothing_else() -> None:
    values = scenario_values("monitoring")["prometheusRule"]
    rule = render_scenario("monitoring").one("PrometheusRule")
    assert rule["metadata"]["labels"].items() >= values["additionalLabels"].items()
    expected = copy.deepcopy(_shipped_groups())
    for group in expected:
        kept = []
        for shipped in group["rules"]:
            if "record" in shipped:  # recording rules pass through untouched
                kept.append(shipped)
                continue
            override = values["alerts"].get(shipped["alert"], {})
            if override.get("enabled", True):
                shipped["labels"] = {
                    **shipped["labels"],
                    **values["additionalRuleLabels"],
                    **({"severity": override["severity"]} if "severity" in override else {}),
                }
                shipped["for"] = override.get("for", shipped["for"])
                kept.append(shipped)
        group["rules"] = kept
    assert rule["spec"]["groups"] == expected + values["extraGroups"]
    # The scenario exercises each kind of override at least once.
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert "VercelAIGatewaySpendSpike" not in alerts
    assert alerts["VercelAIGatewayCreditsLow"]["labels"]["severity"] == "info"
    assert alerts["VercelAIGatewayCreditsLow"]["for"] == "30m"


def test_a_group_whose_alerts_are_all_disabled_is_left_out() -> None:
    shipped = _shipped_groups()
    (exporter,) = [g for g in shipped if g["name"] == "vercel-ai-gateway-exporter"]
    names = [rule["alert"] for rule in exporter["rules"]]
    spec = _rule_spec({"enabled": True, "alerts": {name: {"enabled": False} for name in names}})
    assert [group["name"] for group in spec["groups"]] == [
        group["name"] for group in shipped if group is not exporter
    ]


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's 'prometheus' package (make test does)")
    return path


def test_a_team_routing_label_sits_beside_vercel_team(tmp_path: Path) -> None:
    """additionalRuleLabels {team: platform}, the usual routing label, must not overwrite the
    label naming the Vercel team: two low teams still raise two alerts, each with both labels
    (with the old `team` label, Prometheus refused both for a duplicate label set)."""
    spec = _rule_spec({"enabled": True, "additionalRuleLabels": {"team": "platform"}})
    for rule in (r for group in spec["groups"] for r in group["rules"]):
        assert ("labels" in rule) == ("alert" in rule), "labels on alerts only, never on records"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    balance = metrics.CREDITS_BALANCE.name + '{{job="exporter",instance="a:9853",vercel_team="{}"}}'
    description = (
        "Team {0} has 20.00 USD of AI Gateway credits left, below its warning threshold. "
        "Top up before requests start failing."
    )
    case = {
        "interval": "1m",
        "input_series": [{"series": balance.format(t), "values": "20x20"} for t in ("a", "b")],
        "alert_rule_test": [
            {
                "eval_time": "15m",
                "alertname": "VercelAIGatewayCreditsLow",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "warning",
                            "job": "exporter",
                            "vercel_team": team,
                            "team": "platform",
                        },
                        "exp_annotations": {
                            "summary": "AI Gateway credit balance is low.",
                            "description": description.format(team),
                            "runbook_url": RUNBOOK_URL + "vercelaigatewaycreditslow",
                        },
                    }
                    for team in ("a", "b")
                ],
            }
        ],
    }
    unit_test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": [group["name"] for group in spec["groups"]],
        "tests": [case],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit_test))
    result = subprocess.run(
        [_promtool(), "test", "rules", str(tmp_path / "test.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_rules_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(render_scenario("monitoring").one("PrometheusRule")["spec"]))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_config_map_holds_the_dashboards_byte_for_byte() -> None:
    rendered = render_scenario("monitoring")
    values = scenario_values("monitoring")["grafanaDashboard"]
    defaults = chart_values()["grafanaDashboard"]
    config_map = rendered.one("ConfigMap", f"{FULLNAME}-dashboards")
    assert config_map["data"] == {path.name: path.read_text() for path in DASHBOARDS}
    for path in DASHBOARDS:
        json.loads(config_map["data"][path.name])
    labels = config_map["metadata"]["labels"]
    assert labels[defaults["sidecarLabel"]] == defaults["sidecarLabelValue"] == "1"
    assert config_map["metadata"]["annotations"] == {defaults["folderAnnotation"]: values["folder"]}


def test_dashboard_label_and_namespace_are_configurable() -> None:
    dashboard = {
        "enabled": True,
        "namespace": "grafana",
        "sidecarLabel": "dashboards",
        "sidecarLabelValue": "vercel",
    }
    config_map = render(EXISTING | {"grafanaDashboard": dashboard}).one(
        "ConfigMap", f"{FULLNAME}-dashboards"
    )
    assert config_map["metadata"]["namespace"] == "grafana"
    assert config_map["metadata"]["labels"]["dashboards"] == "vercel"
    assert "annotations" not in config_map["metadata"]  # no folder, no annotation


def test_optional_objects_are_off_by_default() -> None:
    kinds = {obj["kind"] for obj in render_scenario("existing-secret").objects}
    assert kinds == {"ServiceAccount", "ConfigMap", "Service", "Deployment", "Pod"}
