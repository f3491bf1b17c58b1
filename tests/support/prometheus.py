"""A real Prometheus (Debian's package) started by a test, with a throwaway TSDB."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.processes import ManagedProcess, free_port


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        raise RuntimeError("Debian's 'prometheus' is missing: 'make test' installs it")
    return path


class PrometheusServer:
    """Prometheus on 127.0.0.1 scraping the given targets every second."""

    def __init__(
        self,
        workdir: Path,
        scrape_configs: list[dict[str, Any]],
        rule_files: list[Path] | None = None,
        alertmanager_url: str | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }
        if rule_files:
            config["rule_files"] = [str(p) for p in rule_files]
        if alertmanager_url:
            target = alertmanager_url.removeprefix("http://")
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.process = ManagedProcess(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                *(extra_args or []),
            ],
            workdir / "prometheus.log",
        )
        self.process.wait_http(f"{self.url}/-/ready")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; returns the result vector (raises on a query error)."""
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = resp.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body}")
        return list(body["data"]["result"])

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns samples (the first scrape takes about 6 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        raise TimeoutError(f"{expr!r} returned nothing after {timeout:.0f}s")

    def stop(self) -> None:
        self.process.stop()


def static_job(name: str, target: str, **extra: Any) -> dict[str, Any]:
    """A scrape config for one static target."""
    return {"job_name": name, "static_configs": [{"targets": [target]}], **extra}
