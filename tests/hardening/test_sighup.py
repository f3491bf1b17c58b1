"""SIGHUP re-reads the key, token and web config files, as the Go exporters do; it used to
end the process (exit 129) without a drain."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import bcrypt
import httpx
import yaml

from exporter import metrics
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-sighup-0123456789"
OLD, NEW = "old password", "new password"


def users_file(path: Path, password: str) -> None:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))


def test_sighup_reloads_keys_and_passwords_and_keeps_running(
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
    tmp_path: Path,
) -> None:
    sim = simulator_factory(f"--api-key={KEY}")
    key_file, web = tmp_path / "key", tmp_path / "web.yaml"
    key_file.write_text("sk-wrong-key-0000000000\n")
    users_file(web, OLD)
    exp = exporter_factory(
        sim.url,
        f"--web.config.file={web}",
        config={"teams": [{"name": "prod", "api_key_file": str(key_file)}]},
        wait_ready=False,
    )
    exp.process.wait_http(f"{exp.url}/readyz", auth=("prometheus", OLD))

    def up(password: str) -> float | None:
        resp = httpx.get(f"{exp.url}/metrics", auth=("prometheus", password), timeout=10)
        if resp.status_code != 200:
            return None
        for line in resp.text.splitlines():
            if line.startswith(f'{metrics.SOURCE_UP.name}{{source="credits"'):
                return float(line.rsplit(" ", 1)[1])
        return None

    wait_until(lambda: up(OLD) == 0, timeout=20, what="credits refused with the wrong key")
    key_file.write_text(f"{KEY}\n")
    users_file(web, NEW)
    exp.process.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded on SIGHUP" in exp.process.output(), timeout=10, what="reload")
    assert exp.process.alive()
    assert str(key_file) in exp.process.output() and str(web) in exp.process.output()
    assert httpx.get(f"{exp.url}/metrics", auth=("prometheus", OLD)).status_code == 401
    wait_until(lambda: up(NEW) == 1, timeout=20, what="credits with the reloaded key")

    web.write_text("basic_auth_users: [not, a, mapping]\n")
    exp.process.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "keeping the running web config" in exp.process.output(), timeout=10)
    assert up(NEW) == 1, "a bad edit keeps the running config"
    assert exp.stop() == 0, "a clean drain after all"
