"""The exporter started exactly as the chart starts it, for every ci/ scenario.

The container's command (the image's ENTRYPOINT), arguments and environment are taken from the
rendered workload as they are; every volume the container mounts is laid out under a temporary
root (ConfigMaps and Secrets with their rendered data, the Secrets a scenario expects to exist
with made-up content). The only changes: mount paths are moved under that root, the exporter
listens on a free loopback port, and every upstream URL points at the simulator (through the
environment, which wins over the config file, and for budgets in the file itself). Then the
kubelet's view: the rendered probes must pass, and the metrics must show every team's balance.
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from exporter import metrics
from tests.chart.dockerfile import final_stage
from tests.chart.rendering import SCENARIOS, Obj, Rendered, render_scenario
from tests.support.certs import Authority, client_context
from tests.support.drain import delivery, new_id, root, traces
from tests.support.processes import ManagedProcess, free_port, wait_until
from tests.support.stack import SimulatorProcess

USER, PASSWORD = "prometheus", "scrape-password"


@dataclass(frozen=True)
class Access:
    """How a client reaches the exporter: scheme, trust and credentials."""

    scheme: str = "http"
    verify: ssl.SSLContext | bool = True
    auth: tuple[str, str] | None = None


def existing_secrets(workdir: Path) -> tuple[dict[str, dict[str, bytes]], Access]:
    """The Secrets the ci/ scenarios expect to exist beforehand, with made-up content, and how
    to reach an exporter that uses them (the web config turns on TLS and basic auth)."""
    ca = Authority(workdir / "pki", "ci-ca")
    server = ca.issue("exporter", server=True)
    web_config = {
        "tls_server_config": {"cert_file": "tls.crt", "key_file": "tls.key"},
        "basic_auth_users": {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()},
    }
    secrets = {
        "ai-gateway": {"api-key": b"vck_existing-default-key\n"},
        "ai-gateway-prod": {"api-key": b"vck_existing-prod-key\n"},
        "vercel-budgets": {"token": b"vercel-access-token-0123\n"},
        "ai-gateway-ingest": {"token": b"ingest-token-from-secret\n"},
        "ai-gateway-prod-drain": {
            "secret": b"prod-drain-signature-secret\n",
            "verify-code": b"prod-verify-code\n",
        },
        "exporter-web-config": {
            "web-config.yml": yaml.safe_dump(web_config).encode(),
            "tls.crt": server.cert.read_bytes(),
            "tls.key": server.key.read_bytes(),
        },
    }
    return secrets, Access("https", client_context(ca.cert), (USER, PASSWORD))


class Pod:
    """The exporter container's files, command and environment, laid out on this machine."""

    def __init__(self, rendered: Rendered, root: Path, secrets: dict[str, dict[str, bytes]]):
        self.rendered = rendered
        self.root = root
        container = rendered.container
        mounts = sorted((m["mountPath"] for m in container["volumeMounts"]), key=len, reverse=True)
        self._mounts = re.compile("|".join(re.escape(path) for path in mounts))
        self.secrets = {**secrets, **self._rendered_secrets()}
        volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
        # A StatefulSet's claim templates: an empty directory each, like a new claim.
        for claim in rendered.workload["spec"].get("volumeClaimTemplates", []):
            volumes[claim["metadata"]["name"]] = {"emptyDir": {}}
        for mount in container["volumeMounts"]:
            self._lay_out(volumes[mount["name"]], self.path(mount["mountPath"]))
        assert all("valueFrom" not in env for env in container.get("env", []))
        self.env = {env["name"]: self.relocate(env["value"]) for env in container.get("env", [])}
        self.args = [self.relocate(arg) for arg in container["args"]]
        # No command in the pod spec: the image's ENTRYPOINT, the console script.
        assert "command" not in container
        (entrypoint,) = final_stage().exec_form("ENTRYPOINT")
        self.command = [str(Path(sys.executable).parent / entrypoint)]

    def path(self, mount_path: str) -> Path:
        return self.root / mount_path.lstrip("/")

    def relocate(self, text: str) -> str:
        return self._mounts.sub(lambda m: str(self.path(m[0])), text)

    def _rendered_secrets(self) -> dict[str, dict[str, bytes]]:
        return {
            s["metadata"]["name"]: {k: base64.b64decode(v) for k, v in s["data"].items()}
            for s in self.rendered.of_kind("Secret")
        }

    def _config_map(self, name: str) -> dict[str, bytes]:
        found = self.rendered.one("ConfigMap", name)["data"]
        return {key: self.relocate(value).encode() for key, value in found.items()}

    def _lay_out(self, volume: Obj, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            self._write(target, self._config_map(volume["configMap"]["name"]), None)
        elif "secret" in volume:
            secret = volume["secret"]
            self._write(target, self.secrets[secret["secretName"]], secret.get("items"))
        elif "projected" in volume:
            for source in volume["projected"]["sources"]:
                secret = source["secret"]
                self._write(target, self.secrets[secret["name"]], secret["items"])
        else:
            assert "emptyDir" in volume or "persistentVolumeClaim" in volume

    @staticmethod
    def _write(target: Path, data: dict[str, bytes], items: list[Obj] | None) -> None:
        for item in items or [{"key": key, "path": key} for key in data]:
            path = target / item["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[item["key"]])

    @property
    def config_file(self) -> Path:
        (arg,) = [a for a in self.args if a.startswith("--config.file=")]
        return Path(arg.partition("=")[2])

    def config(self) -> Obj:
        config: Obj = yaml.safe_load(self.config_file.read_text())
        return config


@dataclass
class Running:
    pod: Pod
    process: ManagedProcess
    port: int
    access: Access

    @property
    def url(self) -> str:
        return f"{self.access.scheme}://127.0.0.1:{self.port}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(
            f"{self.url}{path}",
            verify=self.access.verify,
            auth=self.access.auth,
            timeout=5,
            **kwargs,
        )

    def probe(self, probe: Obj) -> bool:
        """What the kubelet does: no credentials, no certificate check, any 2xx/3xx is fine."""
        if "tcpSocket" in probe:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
            except OSError:
                return False
            return True
        check = probe["httpGet"]
        assert check["port"] == "http"
        url = f"{check.get('scheme', 'HTTP').lower()}://127.0.0.1:{self.port}{check['path']}"
        try:
            # The kubelet does not check the certificate of an HTTPS probe either.
            response = httpx.get(url, verify=False, timeout=2)  # noqa: S501
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 400

    def wait_ready(self) -> None:
        """Until the rendered liveness and readiness probes pass, as the kubelet would see."""
        container = self.pod.rendered.container
        for name in ("livenessProbe", "readinessProbe"):

            def passes(probe: Obj = container[name]) -> bool:
                assert self.process.alive(), self.process.output()
                return self.probe(probe)

            wait_until(passes, timeout=20, what=f"the {name}:\n{self.process.output()}")

        def ready() -> bool:
            try:
                return self.get("/readyz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=20, what=f"/readyz:\n{self.process.output()}")

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        response = self.get(self.pod.config().get("web", {}).get("telemetry_path", "/metrics"))
        response.raise_for_status()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


@pytest.fixture(scope="module")
def chart_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    sim = SimulatorProcess(tmp_path_factory.mktemp("chart-sim"), "--ready-delay=0")
    yield sim
    sim.stop()


# Module scope: each scenario's exporter is started once for all the tests below.
@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def running(
    request: pytest.FixtureRequest,
    chart_simulator: SimulatorProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Running]:
    tmp_path = tmp_path_factory.mktemp(f"chart-{request.param}")
    secrets, secured = existing_secrets(tmp_path / "made-up")
    rendered = render_scenario(request.param)
    pod = Pod(rendered, tmp_path / "container", secrets)
    # Upstream URLs in the file (budgets) point at the simulator too: nothing leaves the host.
    config = pod.config()
    for team in config["teams"]:
        if "budgets" in team:
            team["budgets"]["url"] = chart_simulator.url
    pod.config_file.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {
        **pod.env,
        "AI_GATEWAY_EXPORTER_WEB_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "AI_GATEWAY_EXPORTER_GATEWAY_URL": chart_simulator.url,
    }
    process = ManagedProcess([*pod.command, *pod.args], tmp_path / "exporter.log", env=env)
    access = secured if "config_file" in config.get("web", {}) else Access()
    try:
        started = Running(pod, process, port, access)
        started.wait_ready()
        yield started
    finally:
        process.stop()
        assert "Traceback" not in process.output()


def test_exporter_runs_as_the_chart_starts_it(running: Running) -> None:
    assert running.get("/readyz").status_code == 200
    config = running.pod.config()
    samples = running.samples()
    for team in config["teams"]:
        labels = (("vercel_team", team["name"]),)
        source = (("source", "credits"), *labels)
        assert samples[(metrics.SOURCE_UP.name, source)] == 1
        assert (metrics.CREDITS_BALANCE.name, labels) in samples
        # Thresholds from alertThresholds and teams[].alerts reach the gauges the rules read.
        if "credits_low_usd" in team.get("alerts", {}):
            threshold = samples[(metrics.ALERT_CREDITS_LOW.name, labels)]
            assert threshold == team["alerts"]["credits_low_usd"]


def test_intake_takes_the_ingest_token_from_its_secret(running: Running) -> None:
    config = running.pod.config()
    body = {"id": "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", "team": config["teams"][0]["name"]}

    def post(headers: dict[str, str]) -> int:
        return httpx.post(
            f"{running.url}/generations",
            json=body,
            headers=headers,
            auth=None if headers else running.access.auth,
            verify=running.access.verify,
            timeout=5,
        ).status_code

    token_file = config.get("ingest", {}).get("token_file")
    if token_file is None:
        assert post({}) == 202
        return
    token = Path(token_file).read_text().strip()
    assert post({}) == 401
    assert post({"Authorization": f"Bearer {token}"}) == 202


def _post_delivery(
    running: Running, message: ExportTraceServiceRequest, secret: str
) -> httpx.Response:
    """A drain delivery signed with ``secret``, with no credentials: a signed delivery needs
    none, even behind basic auth."""
    body, headers = delivery(message, secret=secret)
    url = f"{running.url}/v1/traces"
    return httpx.post(url, content=body, headers=headers, verify=running.access.verify)


def test_drain_deliveries_verify_with_the_mounted_files(running: Running) -> None:
    """Each team's drain secret and verification code, as the chart mounts them: the endpoint
    check gets the team's code, a delivery signed with its secret counts for that team, one
    signed with anything else is refused."""
    config = running.pod.config()
    drained = [team for team in config["teams"] if "drain_secret_file" in team]
    if not drained:
        assert "secret_file" not in config.get("drain", {})
        return
    for team in drained:
        name = team["name"]
        check = running.get(f"/v1/traces?team={name}")
        code = Path(team["drain_verify_code_file"]).read_text().strip()
        assert (check.status_code, check.headers["x-vercel-verify"]) == (200, code)
        secret = Path(team["drain_secret_file"]).read_text().splitlines()[0]
        message = traces([root(new_id(time.time()))])
        labels = (("result", "accepted"), ("vercel_team", name))
        key = (metrics.DRAIN_DELIVERIES.name, labels)
        before = running.samples().get(key, 0.0)

        forged = _post_delivery(running, message, f"not-{secret}")
        assert forged.status_code == 403, forged.text
        assert running.samples().get(key, 0.0) == before
        accepted = _post_delivery(running, message, secret)
        assert (accepted.status_code, accepted.headers["x-vercel-verify"]) == (200, code)
        assert running.samples()[key] == before + 1
