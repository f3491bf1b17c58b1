"""The trace drain's way in: an Ingress or an HTTPRoute that exposes `/v1/traces` alone, over
TLS, and the drain's secret and verification code mounted as files the exporter reads.

What Vercel must reach is one path; everything else the exporter serves (`/metrics`, `/`,
`/generations`, `/openapi.json`) must stay unreachable from the internet, so each test below
looks at every path and every match the chart renders, not only the one it expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from helm_python.errors import HelmError, HelmValuesError

from tests.chart.rendering import (
    FULLNAME,
    Obj,
    Rendered,
    chart,
    mount_path,
    render,
    render_scenario,
    scenario_values,
    secret_files,
)

KEY = {"apiKey": {"value": "vck_test_key"}}
HOST = "exporter.example.com"
INGRESS = {"enabled": True, "hosts": [HOST], "tls": [{"secretName": "exporter-tls"}]}
ROUTE = {"enabled": True, "parentRefs": [{"name": "public", "sectionName": "https"}]}
TRACES = "/v1/traces"
DRAIN_NAME = f"{FULLNAME}-drain"


def _ingress_paths(ingress: Obj) -> list[tuple[str, str, str]]:
    """(host, path, pathType) of every path the Ingress routes."""
    return [
        (rule.get("host", "*"), path["path"], path["pathType"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def _route_matches(route: Obj) -> list[Obj]:
    return [match for rule in route["spec"]["rules"] for match in rule["matches"]]


def test_no_way_in_unless_asked() -> None:
    for values in (KEY, {**KEY, "drainIngress": {**INGRESS, "enabled": False}}):
        rendered = render(values)
        assert rendered.of_kind("Ingress") == [] and rendered.of_kind("HTTPRoute") == []
        assert "/v1/traces" not in rendered.notes


def test_the_ingress_routes_the_traces_path_alone_over_tls() -> None:
    values = {
        **KEY,
        "commonLabels": {"example.com/team": "platform"},
        "drainIngress": {
            **INGRESS,
            "ingressClassName": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "labels": {"example.com/exposure": "internet"},
        },
    }
    rendered = render(values)
    ingress = rendered.one("Ingress", DRAIN_NAME)
    metadata, spec = ingress["metadata"], ingress["spec"]
    assert metadata["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
    assert metadata["labels"]["example.com/exposure"] == "internet"
    assert metadata["labels"]["example.com/team"] == "platform"
    assert spec["ingressClassName"] == "nginx"
    # The TLS entry covers the host without repeating it; no catch-all backend.
    assert spec["tls"] == [{"hosts": [HOST], "secretName": "exporter-tls"}]
    assert "defaultBackend" not in spec
    assert _ingress_paths(ingress) == [(HOST, TRACES, "Exact")]
    (path,) = spec["rules"][0]["http"]["paths"]
    assert path["backend"] == {"service": {"name": FULLNAME, "port": {"name": "http"}}}
    # The port name leads to the exporter's Service port, whatever its number.
    service = rendered.one("Service", FULLNAME)
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_every_host_gets_the_path_alone_and_its_own_certificate() -> None:
    hosts = ["a.example.com", "b.example.org"]
    tls = [
        {"secretName": "a-tls", "hosts": ["a.example.com"]},
        {"secretName": "b-tls", "hosts": ["b.example.org"]},
    ]
    ingress = render({**KEY, "drainIngress": {**INGRESS, "hosts": hosts, "tls": tls}}).one(
        "Ingress"
    )
    assert ingress["spec"]["tls"] == tls
    assert _ingress_paths(ingress) == [(host, TRACES, "Exact") for host in hosts]
    assert "ingressClassName" not in ingress["spec"]  # the cluster's default class


def test_the_route_matches_the_exact_path_for_any_method_by_default() -> None:
    values = {**KEY, "drainRoute": {**ROUTE, "hostnames": [HOST], "labels": {"a.b/c": "d"}}}
    route = render(values).one("HTTPRoute", DRAIN_NAME)
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["metadata"]["labels"]["a.b/c"] == "d"
    spec = route["spec"]
    assert spec["parentRefs"] == ROUTE["parentRefs"]
    assert spec["hostnames"] == [HOST]
    # Path matching alone (core Gateway API): one match, no method, nothing but the path.
    assert _route_matches(route) == [{"path": {"type": "Exact", "value": TRACES}}]
    (rule,) = spec["rules"]
    assert set(rule) == {"matches", "backendRefs"}
    assert rule["backendRefs"] == [{"name": FULLNAME, "port": 9853}]


def test_the_route_can_let_through_chosen_methods_only() -> None:
    values = {**KEY, "service": {"port": 9100}, "drainRoute": {**ROUTE, "methods": ["POST", "GET"]}}
    route = render(values).one("HTTPRoute")
    matches = _route_matches(route)
    # One match per method, each on the exact path: the matches of a rule are alternatives.
    assert [m["method"] for m in matches] == ["POST", "GET"]
    assert {(m["path"]["type"], m["path"]["value"]) for m in matches} == {("Exact", TRACES)}
    # The route names the Service's port by number: it follows service.port.
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": FULLNAME, "port": 9100}]
    assert "hostnames" not in route["spec"]


def test_the_drain_scenario_exposes_the_traces_path_and_nothing_else() -> None:
    rendered = render_scenario("drain")
    (ingress,) = rendered.of_kind("Ingress")
    (route,) = rendered.of_kind("HTTPRoute")
    assert {(path, kind) for _, path, kind in _ingress_paths(ingress)} == {(TRACES, "Exact")}
    assert {(m["path"]["value"], m["path"]["type"]) for m in _route_matches(route)} == {
        (TRACES, "Exact")
    }
    assert [m["method"] for m in _route_matches(route)] == ["POST", "GET", "HEAD"]
    # Every host Vercel may be given is served over TLS.
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= tls_hosts
    # Nothing else of the chart is exposed: the Service stays inside the cluster.
    assert rendered.one("Service", FULLNAME)["spec"]["type"] == "ClusterIP"
    assert rendered.of_kind("Ingress") + rendered.of_kind("HTTPRoute") == [ingress, route]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {"drainIngress": {**INGRESS, "hosts": []}},
            "drainIngress.hosts: name the host",
            id="no-host",
        ),
        pytest.param(
            {"drainIngress": {**INGRESS, "tls": []}},
            "drainIngress.tls: Vercel sends drains over HTTPS",
            id="no-tls",
        ),
        pytest.param(
            {
                "drainIngress": {
                    **INGRESS,
                    "hosts": [HOST, "other.example.com"],
                    "tls": [{"secretName": "t", "hosts": [HOST]}],
                }
            },
            'drainIngress.tls: host "other.example.com" has no TLS entry',
            id="host-without-tls",
        ),
        pytest.param({"drainRoute": {"enabled": True}}, "drainRoute.parentRefs", id="no-gateway"),
        pytest.param(
            {"drainRoute": {**ROUTE, "methods": ["GET", "HEAD"]}},
            "drainRoute.methods: deliveries are POSTs",
            id="no-post",
        ),
        pytest.param(
            {
                "apiKey": {"value": ""},
                "teams": [{"name": "a", "value": "k1"}, {"name": "b", "value": "k2"}],
                "drain": {"secret": {"value": "s"}},
            },
            "set teams[].drain.secret",
            id="one-secret-several-teams",
        ),
        pytest.param(
            {"drain": {"secret": {"value": "s", "existingSecret": {"name": "x", "key": "k"}}}},
            "drain.secret: set existingSecret or value, not both",
            id="secret-twice",
        ),
    ],
)
def test_what_cannot_work_is_refused_by_name(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render({**KEY, **values})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"drainIngress": {"path": "/"}}, "additional properties 'path'", id="path"),
        pytest.param(
            {"drainIngress": {"pathType": "Prefix"}}, "additional properties 'pathType'", id="type"
        ),
        pytest.param(
            {"drainIngress": {"hosts": [f"https://{HOST}"]}}, "'/drainIngress/hosts/0'", id="url"
        ),
        pytest.param(
            {"drainIngress": {"hosts": [f"{HOST}{TRACES}"]}},
            "'/drainIngress/hosts/0'",
            id="host-path",
        ),
        pytest.param(
            {"drainIngress": {"tls": [{"secret": "x"}]}},
            "'/drainIngress/tls/0'.*additional properties 'secret'",
            id="tls-typo",
        ),
        pytest.param(
            {"drainRoute": {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}},
            "additional properties 'matches'",
            id="route-matches",
        ),
        pytest.param(
            {"drainRoute": {"methods": ["post"]}}, "'/drainRoute/methods/0'", id="method-case"
        ),
        pytest.param(
            {"drainRoute": {"hostnames": ["*"]}}, "'/drainRoute/hostnames/0'", id="any-host"
        ),
        pytest.param(
            {"drainRoute": {"parentRefs": [{"namespace": "gateways"}]}},
            "'/drainRoute/parentRefs/0'.*missing propert.*'name'",
            id="parent-without-name",
        ),
        pytest.param(
            {"teams": [{"name": "a", "value": "k", "drain": {"secrets": {"value": "s"}}}]},
            "'/teams/0/drain'.*additional properties 'secrets'",
            id="team-drain-typo",
        ),
    ],
)
def test_schema_refuses_what_would_expose_more_or_nothing(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmValuesError, match=message):
        chart().validate_schema({**KEY, **values})


def test_the_drain_files_are_mounted_and_named_in_the_config() -> None:
    values = {
        **KEY,
        "drain": {
            "secret": {"value": "one-team-drain-secret"},
            "verifyCode": {"existingSecret": {"name": "drain-code", "key": "code"}},
        },
    }
    rendered = render(values)
    files = secret_files(rendered)
    assert files["drain-secret"] == (FULLNAME, "drain-secret")
    assert files["drain-verify-code"] == ("drain-code", "code")
    secrets_dir = mount_path(rendered, "secrets")
    (mount,) = [m for m in rendered.container["volumeMounts"] if m["name"] == "secrets"]
    assert mount["readOnly"] is True
    assert rendered.exporter_config["drain"] == {
        "secret_file": str(secrets_dir / "drain-secret"),
        "verify_code_file": str(secrets_dir / "drain-verify-code"),
    }
    # The chart's Secret holds the inline secret; nothing else carries it.
    stored = rendered.one("Secret", FULLNAME)["data"]
    assert set(stored) == {"default.api-key", "drain-secret"}
    assert "one-team-drain-secret" not in str(list(rendered.non_secret_objects()))
    assert "one-team-drain-secret" not in rendered.notes


def test_each_team_gets_its_own_drain_secret_and_code() -> None:
    rendered = render_scenario("drain")
    secrets_dir = mount_path(rendered, "secrets")
    teams = {team["name"]: team for team in rendered.exporter_config["teams"]}
    for name in ("prod", "staging"):
        assert teams[name]["drain_secret_file"] == str(secrets_dir / f"teams/{name}/drain-secret")
        assert teams[name]["drain_verify_code_file"] == str(
            secrets_dir / f"teams/{name}/drain-verify-code"
        )
    assert "drain" not in rendered.exporter_config
    files = secret_files(rendered)
    assert files["teams/prod/drain-secret"] == ("ai-gateway-prod-drain", "secret")
    assert files["teams/prod/drain-verify-code"] == ("ai-gateway-prod-drain", "verify-code")
    assert files["teams/staging/drain-secret"] == (FULLNAME, "staging.drain-secret")
    assert files["teams/staging/drain-verify-code"] == (FULLNAME, "staging.drain-verify-code")
    # Each team's drain is given the URL that names it, so its own code answers the check.
    host = scenario_values("drain")["drainIngress"]["hosts"][0]
    for name in ("prod", "staging"):
        assert f"https://{host}/v1/traces?team={name}" in rendered.notes


def _drain_notes(values: dict[str, Any]) -> str:
    rendered: Rendered = render({**KEY, "drainIngress": INGRESS, **values})
    return rendered.notes


def test_the_notes_give_the_url_and_say_what_is_missing() -> None:
    complete = {"drain": {"secret": {"value": "s"}, "verifyCode": {"value": "c"}}}
    notes = _drain_notes(complete)
    assert f"https://{HOST}/v1/traces\n" in notes
    assert "Only /v1/traces is exposed" in notes
    assert "No verification code" not in notes and "No drain secret" not in notes
    assert "No verification code is set" in _drain_notes({"drain": {"secret": {"value": "s"}}})
    lookup = _drain_notes({"drain": {"verifyCode": {"value": "c"}}})
    assert "looked up instead of counted" in lookup and "(401)" not in lookup
    refused = _drain_notes({"drain": {"verifyCode": {"value": "c"}}, "ingestToken": {"value": "t"}})
    assert "refused (401)" in refused
    fenced = _drain_notes({**complete, "networkPolicy": {"enabled": True}})
    assert "must let your ingress controller or gateway in" in fenced
    # Through a Gateway without hostnames, the notes say where the host comes from.
    route = render({**KEY, **complete, "drainRoute": ROUTE}).notes
    assert "https://<your gateway's host>/v1/traces" in route


def test_config_names_only_files_that_are_mounted() -> None:
    # Every drain file the exporter is told to read is in the projected volume.
    rendered = render_scenario("drain")
    secrets_dir = mount_path(rendered, "secrets")
    mounted = {secrets_dir / path for path in secret_files(rendered)}
    named = {
        Path(team[option])
        for team in rendered.exporter_config["teams"]
        for option in ("drain_secret_file", "drain_verify_code_file")
    }
    assert named <= mounted and len(named) == 4
