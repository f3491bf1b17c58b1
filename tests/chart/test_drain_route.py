"""The trace drain's way in: an Ingress or an HTTPRoute that exposes `/v1/traces` alone, with
TLS, and the drain's secret and verification code mounted as files the exporter reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helm_python.errors import HelmError

from tests.chart.rendering import FULLNAME, render, render_scenario, secret_files

KEY = {"apiKey": {"value": "vck_test_key"}}
INGRESS = {"enabled": True, "host": "exporter.example.com", "tlsSecretName": "exporter-tls"}
ROUTE = {"enabled": True, "parentRefs": [{"name": "public", "sectionName": "https"}]}


def test_no_way_in_unless_asked() -> None:
    rendered = render(KEY)
    assert rendered.of_kind("Ingress") == [] and rendered.of_kind("HTTPRoute") == []


def test_the_ingress_routes_the_traces_path_alone_over_tls() -> None:
    ingress = render({**KEY, "drainIngress": {**INGRESS, "className": "nginx"}}).one("Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["exporter.example.com"], "secretName": "exporter-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "exporter.example.com"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/v1/traces", "Exact")
    assert path["backend"]["service"] == {"name": FULLNAME, "port": {"name": "http"}}


def test_the_route_matches_the_traces_path_alone() -> None:
    route = render({**KEY, "drainRoute": {**ROUTE, "hostnames": ["x.example.com"]}}).one(
        "HTTPRoute"
    )
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    spec = route["spec"]
    assert spec["parentRefs"] == ROUTE["parentRefs"]
    assert spec["hostnames"] == ["x.example.com"]
    (rule,) = spec["rules"]
    assert {m["path"]["value"] for m in rule["matches"]} == {"/v1/traces"}
    assert {m["path"]["type"] for m in rule["matches"]} == {"Exact"}
    # POST for deliveries; GET and HEAD for Vercel's endpoint check of the verification code.
    assert sorted(m["method"] for m in rule["matches"]) == ["GET", "HEAD", "POST"]
    assert rule["backendRefs"] == [{"name": FULLNAME, "port": 9853}]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"drainIngress": {**INGRESS, "host": ""}}, "drainIngress.host"),
        ({"drainIngress": {**INGRESS, "tlsSecretName": ""}}, "HTTPS only"),
        ({"drainRoute": {"enabled": True}}, "drainRoute.parentRefs"),
        (
            {
                "apiKey": {"value": ""},
                "teams": [{"name": "a", "value": "k1"}, {"name": "b", "value": "k2"}],
                "drain": {"secret": {"value": "s"}},
            },
            "teams[].drain.secret",
        ),
        ({"drainIngress": {"enabled": True, "path": "/"}}, "additional properties"),
    ],
)
def test_what_cannot_work_is_refused_by_name(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=message.replace(".", r"\.").replace("[", r"\[")):
        render({**KEY, **values})


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
    drain = rendered.exporter_config["drain"]
    assert {Path(p).name for p in drain.values()} == {"drain-secret", "drain-verify-code"}
    assert set(drain) == {"secret_file", "verify_code_file"}
    assert "one-team-drain-secret" not in str(rendered.container)  # by file, never by flag


def test_each_team_gets_its_own_drain_secret() -> None:
    rendered = render_scenario("drain")
    teams = {team["name"]: team for team in rendered.exporter_config["teams"]}
    assert teams["prod"]["drain_secret_file"].endswith("teams/prod/drain-secret")
    assert teams["staging"]["drain_secret_file"].endswith("teams/staging/drain-secret")
    assert rendered.exporter_config["drain"] == {
        "verify_code_file": "/etc/vercel-ai-gateway-exporter/secrets/drain-verify-code"
    }
    files = secret_files(rendered)
    assert files["teams/prod/drain-secret"] == ("ai-gateway-prod-drain", "secret")
    assert files["teams/staging/drain-secret"] == (FULLNAME, "staging.drain-secret")
    assert "https://ai-gateway-exporter.example.com/v1/traces" in rendered.notes
