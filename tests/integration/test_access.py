"""Access end to end: TLS, client certificates and basic auth from --web.config.file, checked by
a real Prometheus and by raw clients; the request limits, checked with clients that trickle."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pytest
import yaml

from exporter import metrics
from exporter.gateway.models import is_generation_id
from tests.support.certs import Authority, Issued, client_context
from tests.support.ids import live_id
from tests.support.processes import REPO_ROOT, exporter_command, free_port, wait_until
from tests.support.prometheus import PrometheusServer, static_job
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-e2e-access-0123456789"
USER, PASSWORD = "prometheus", "correct horse battery staple"
INGEST_TOKEN = "ingest-token-0123456789abcdef"
UNKNOWN_ID = live_id("RTY7ABCDEFGHJKMN")  # no generation of the simulator
# Cost 4 keeps the tests fast; production hashes use 10 or more (docs/security.md).
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
PROTECTED = ["/", "/metrics", "/readyz", "/openapi.json"]


@dataclass
class Secured:
    """An exporter demanding client certificates, basic auth and an ingest token."""

    sim: SimulatorProcess
    exp: ExporterProcess
    url: str
    ca: Authority
    client: Issued
    workdir: Path

    def client_tls(self) -> ssl.SSLContext:
        return client_context(self.ca.cert, self.client)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", verify=self.client_tls(), timeout=10, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", verify=self.client_tls(), timeout=10, **kwargs)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    workdir: Path = tmp_path_factory.mktemp("access")
    ca = Authority(workdir / "pki", "test-ca")
    server = ca.issue("exporter", server=True)
    client = ca.issue("prometheus", server=False)
    web_config = workdir / "web.yml"
    # Relative paths: the toolkit resolves them against the web config file's directory.
    web_config.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": str(server.cert.relative_to(workdir)),
                    "key_file": str(server.key.relative_to(workdir)),
                    "client_ca_file": str(ca.cert.relative_to(workdir)),
                    "client_auth_type": "RequireAndVerifyClientCert",
                    "min_version": "TLS12",
                },
                "basic_auth_users": {USER: HASH},
            }
        )
    )
    token_file = workdir / "ingest.token"
    token_file.write_text(INGEST_TOKEN + "\n")
    sim = SimulatorProcess(workdir / "sim", "--ready-delay=0")
    exp = ExporterProcess(
        workdir / "exporter",
        sim.url,
        f"--web.config.file={web_config}",
        f"--ingest.token-file={token_file}",
        "--lookup.initial-delay=0s",
        "--credits.interval=5m",  # one credits poll at start: nothing else calls upstream
        env={"AI_GATEWAY_API_KEY": KEY},
        wait_ready=False,
    )
    url = f"https://127.0.0.1:{exp.port}"
    try:
        exp.process.wait_http(f"{url}/healthz", verify=client_context(ca.cert, client))
        yield Secured(sim, exp, url, ca, client, workdir)
    finally:
        exp.stop()
        sim.stop()
        assert "Traceback" not in exp.process.output()


def test_prometheus_scrapes_over_mutual_tls_with_basic_auth(secured: Secured) -> None:
    target = f"127.0.0.1:{secured.exp.port}"
    tls = {
        "ca_file": str(secured.ca.cert),
        "cert_file": str(secured.client.cert),
        "key_file": str(secured.client.key),
    }
    jobs = [
        static_job(
            "good",
            target,
            scheme="https",
            tls_config=tls,
            basic_auth={"username": USER, "password": PASSWORD},
        ),
        static_job(
            "wrong-password",
            target,
            scheme="https",
            tls_config=tls,
            basic_auth={"username": USER, "password": "wrong"},
        ),
        static_job(
            "no-client-cert",
            target,
            scheme="https",
            tls_config={"ca_file": str(secured.ca.cert)},
            basic_auth={"username": USER, "password": PASSWORD},
        ),
    ]
    prom = PrometheusServer(secured.workdir / "prometheus", jobs)
    try:
        result = prom.wait_for(
            f'{metrics.SOURCE_UP.name}{{job="good",vercel_team="default",source="credits"}}'
        )
        assert result[0]["value"][1] == "1"
        wait_until(lambda: len(prom.query("up")) == 3, 10, what="all three jobs scraped")
        scrapes = {r["metric"]["job"]: r["value"][1] for r in prom.query("up")}
        assert scrapes == {"good": "1", "wrong-password": "0", "no-client-cert": "0"}
        errors = {t["labels"]["job"]: t["lastError"] for t in prom_targets(prom)}
        assert "401" in errors["wrong-password"]
        assert errors["good"] == ""
    finally:
        prom.stop()


def prom_targets(prom: PrometheusServer) -> list[dict[str, Any]]:
    body = httpx.get(f"{prom.url}/api/v1/targets", timeout=10).json()
    return list(body["data"]["activeTargets"])


def test_healthz_needs_no_password_and_everything_else_does(secured: Secured) -> None:
    assert secured.get("/healthz").status_code == 200
    for path in PROTECTED:
        refused = secured.get(path)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"].startswith('Basic realm="')
        assert secured.get(path, auth=(USER, "wrong")).status_code == 401, path
        assert secured.get(path, auth=("nobody", PASSWORD)).status_code == 401, path
        assert secured.get(path, auth=(USER, PASSWORD)).status_code == 200, path
    anonymous = secured.post("/generations", json={"ids": []})
    assert anonymous.status_code == 401


def refused(url: str, verify: ssl.SSLContext | bool = True) -> bool:
    """True when the connection fails before any HTTP answer."""
    try:
        httpx.get(url, verify=verify, timeout=5)
    except httpx.TransportError:
        return True
    return False


def test_tls_refuses_missing_or_foreign_client_certificates_and_plain_http(
    secured: Secured,
) -> None:
    stranger = Authority(secured.workdir / "stranger-pki", "stranger-ca").issue(
        "stranger", server=False
    )
    attempts = {
        "no client certificate": client_context(secured.ca.cert),
        "certificate from another CA": client_context(secured.ca.cert, stranger),
    }
    for what, context in attempts.items():
        assert refused(f"{secured.url}/healthz", context), what
    assert refused(f"http://127.0.0.1:{secured.exp.port}/healthz"), "plain HTTP"
    assert secured.get("/healthz").status_code == 200  # still serving the right client


def test_intake_wants_its_bearer_token_even_with_correct_basic_auth(secured: Secured) -> None:
    good_basic = basic(USER, PASSWORD)
    attempts = {
        "basic auth only": [("Authorization", good_basic)],
        "wrong bearer token": [("Authorization", "Bearer wrong-token")],
        "basic auth, then a wrong token": [
            ("Authorization", good_basic),
            ("Authorization", "Bearer wrong-token"),
        ],
        "a wrong token, then basic auth": [
            ("Authorization", "Bearer wrong-token"),
            ("Authorization", good_basic),
        ],
    }
    for what, headers in attempts.items():
        resp = secured.post("/generations", json={"ids": []}, headers=headers)
        assert resp.status_code == 401, what
        assert resp.json() == {"error": "missing or wrong bearer token"}, what
    accepted = secured.post(
        "/generations", json={"ids": []}, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}
    )
    assert accepted.status_code == 202
    # The token opens intake only: it is not a key to the metrics.
    bearer_metrics = secured.get("/metrics", headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert bearer_metrics.status_code == 401


async def _hammer(secured: Secured) -> dict[str, set[int]]:
    """Every endpoint, every way of being wrong, concurrently; the status codes by path."""
    body = {"ids": [UNKNOWN_ID]}
    wrong = [
        {},
        {"Authorization": basic(USER, "wrong")},
        {"Authorization": basic("nobody", PASSWORD)},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": f"Digest {INGEST_TOKEN}"},
    ]
    async with httpx.AsyncClient(
        base_url=secured.url, verify=secured.client_tls(), timeout=20
    ) as client:
        paths = ["/healthz", *PROTECTED]
        calls = (
            [client.get(path, headers=headers) for path in paths for headers in wrong]
            + [
                client.post("/generations", json=body, headers=headers)
                for headers in wrong
                for _ in range(5)
            ]
            + [
                client.post(
                    "/generations", content=UNKNOWN_ID, headers={**h, "Content-Type": "text/plain"}
                )
                for h in wrong
            ]
        )
        codes: dict[str, set[int]] = {}
        for response in await asyncio.gather(*calls):
            codes.setdefault(response.url.path, set()).add(response.status_code)
        return codes


def test_nothing_unauthenticated_reaches_upstream(secured: Secured) -> None:
    assert is_generation_id(UNKNOWN_ID)
    before = len(secured.sim.requests())
    codes = asyncio.run(_hammer(secured))
    assert codes == {"/healthz": {200}} | {path: {401} for path in [*PROTECTED, "/generations"]}
    time.sleep(1.5)  # lookups start at once (--lookup.initial-delay=0s): give them the chance
    assert len(secured.sim.requests()) == before
    assert not any(r["endpoint"] == "generation" for r in secured.sim.requests())
    # The control: the same request with the token does reach the gateway, so the count above
    # would have seen an unauthenticated one.
    (real_id,) = secured.sim.control("generations", {"count": 1, "ready_after": 0}, key=KEY)["ids"]
    accepted = secured.post(
        "/generations", json={"ids": [real_id]}, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}
    )
    assert accepted.status_code == 202
    wait_until(
        lambda: any(r["endpoint"] == "generation" for r in secured.sim.requests()),
        10,
        what="the authorised ID looked up",
    )


# --- invalid web config files: exit 1, the key named, no traceback


def test_invalid_web_config_files_stop_the_start_with_the_key_named(tmp_path: Path) -> None:
    cert = tmp_path / "server.crt"
    cert.write_text("not a certificate\n")
    cases = {
        "typo.yml": (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_typ": "x"}},
            "tls_server_config.client_auth_typ: unknown key (did you mean 'client_auth_type'?)",
        ),
        "missing-key.yml": (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "absent.key"}},
            f"tls_server_config.key_file: cannot read {tmp_path / 'absent.key'}: "
            "No such file or directory",
        ),
        "bad-cert.yml": (
            {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.crt"}},
            f"tls_server_config.cert_file: {cert} holds no PEM certificate",
        ),
        "plain-password.yml": (
            {"basic_auth_users": {"alice": "hunter2"}},
            "basic_auth_users.alice: not a bcrypt hash "
            "(generate one with: htpasswd -nBC 10 '' | tr -d ':\\n')",
        ),
    }
    runs = {}
    for name, (content, _) in cases.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(content))
        runs[name] = subprocess.Popen(
            exporter_command(
                f"--web.listen-address=127.0.0.1:{free_port()}",
                f"--web.config.file={path}",
                f"--state.path={tmp_path / (name + '.db')}",
                "--gateway.url=http://127.0.0.1:9",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "AI_GATEWAY_API_KEY": KEY},
            cwd=REPO_ROOT,
        )
    for name, (_, message) in cases.items():
        out, err = runs[name].communicate(timeout=30)
        assert runs[name].returncode == 1, (name, out, err)
        assert err == f"vercel-ai-gateway-exporter: web config file {tmp_path / name}: {message}\n"
        assert "Traceback" not in out + err
        assert "hunter2" not in out + err  # a password pasted as a hash is not echoed


# --- request limits: slow clients are cut off, intake concurrency is capped

LIMITS = (
    "--web.read-header-timeout=1s",
    "--web.read-timeout=2s",
    "--web.max-header-bytes=2048",
    "--ingest.max-concurrent-requests=2",
)


@pytest.fixture
def limited(
    simulator: SimulatorProcess, exporter_factory: Callable[..., ExporterProcess]
) -> ExporterProcess:
    return exporter_factory(simulator.url, *LIMITS, env={"AI_GATEWAY_API_KEY": KEY})


def _connect(exp: ExporterProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", exp.port), timeout=10)
    sock.settimeout(0.2)
    return sock


def _trickle_until_closed(sock: socket.socket, byte: bytes, limit: float) -> tuple[float, bytes]:
    """Send ``byte`` every 0.2 s until the server closes; (seconds it took, what it said)."""
    started = time.monotonic()
    answer = b""
    while time.monotonic() - started < limit:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            try:
                sock.sendall(byte)
            except OSError:
                break
            continue
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
    return time.monotonic() - started, answer


def test_a_client_trickling_its_headers_is_cut_off(limited: ExporterProcess) -> None:
    sock = _connect(limited)
    started = time.monotonic()
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\n")
    _, answer = _trickle_until_closed(sock, b"X", limit=10)
    took = time.monotonic() - started
    sock.close()
    assert 0.9 <= took < 2.0, took
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"request headers not received within 1s\n")
    # A client that connects and says nothing is cut off too.
    silent = _connect(limited)
    silent.settimeout(5)
    started = time.monotonic()
    assert silent.recv(4096).startswith(b"HTTP/1.1 408")
    assert 0.9 <= time.monotonic() - started < 2.0
    silent.close()


def test_slow_bodies_hold_intake_slots_only_until_the_deadline(
    limited: ExporterProcess,
) -> None:
    head = (
        b"POST /generations HTTP/1.1\r\nHost: exporter\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 1000\r\n\r\n" + UNKNOWN_ID.encode()
    )
    slow = [_connect(limited) for _ in range(2)]
    started = time.monotonic()
    for sock in slow:
        sock.sendall(head)
    time.sleep(0.3)  # both are inside intake, waiting for their bodies
    busy = httpx.post(f"{limited.url}/generations", content=UNKNOWN_ID, timeout=5)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert busy.json() == {"error": "2 intake requests in progress; retry later"}
    answers = [_trickle_until_closed(sock, b"\n", limit=10)[1] for sock in slow]
    took = time.monotonic() - started
    for sock in slow:
        sock.close()
    assert 1.9 <= took < 3.0, took
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert answer.endswith(b"request body not received within 2s\n")
    freed = httpx.post(
        f"{limited.url}/generations",
        content=UNKNOWN_ID,
        headers={"Content-Type": "text/plain"},
        timeout=5,
    )
    assert freed.status_code == 202
    log = limited.process.output()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_oversized_headers_are_refused(limited: ExporterProcess) -> None:
    whole = limited.get("/metrics", headers={"X-Padding": "x" * 4096})
    assert whole.status_code == 431
    assert whole.json() == {"error": "request line and headers larger than 2048 bytes"}
    assert limited.get("/metrics", headers={"X-Padding": "x" * 1024}).status_code == 200
    # A head still arriving is refused by the protocol as soon as it outgrows the limit.
    sock = _connect(limited)
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: exporter\r\nX-Padding: " + b"x" * 3000)
    _, answer = _trickle_until_closed(sock, b"x", limit=5)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 ")
