"""A real Alertmanager (Debian's prometheus-alertmanager) and a webhook receiver for tests.

The Alertmanager routes everything to one webhook with fast group timings, so a firing or a
resolved alert reaches the test within a second of Prometheus sending it. Gossip is off
(``--cluster.listen-address=``), so nothing binds outside 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import ManagedProcess, free_port

Alert = dict[str, Any]


def alertmanager_binary() -> str:
    path = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if path is None:
        raise RuntimeError(
            "Debian's 'prometheus-alertmanager' package is missing: run 'make test' to install it"
        )
    return path


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that keeps every notification Alertmanager posts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._payloads: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver._lock:
                    receiver._payloads.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what matters."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._payloads)

    def alerts(self) -> list[Alert]:
        """Every alert of every notification, in arrival order (repeats included)."""
        return [alert for payload in self.payloads() for alert in payload.get("alerts", [])]

    def wait_for(
        self, predicate: Callable[[Alert], bool], timeout: float, what: str = "an alert"
    ) -> Alert:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for alert in self.alerts():
                if predicate(alert):
                    return alert
            time.sleep(0.2)
        seen = [
            (a.get("status"), a.get("labels", {}).get("alertname"), a.get("labels", {}))
            for a in self.alerts()
        ]
        raise TimeoutError(f"no {what} after {timeout:.0f}s; the webhook got: {seen}")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class AlertmanagerServer:
    """Alertmanager on 127.0.0.1 sending every alert to ``webhook_url`` (resolved ones too)."""

    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "route": {
                "receiver": "hook",
                "group_by": ["alertname", "vercel_team"],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
            ],
        }
        config_path = workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config))
        self.process = ManagedProcess(
            [
                alertmanager_binary(),
                f"--config.file={config_path}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            workdir / "alertmanager.log",
        )
        self.process.wait_http(f"{self.url}/-/ready")

    def stop(self) -> None:
        self.process.stop()


def shorten_for(rule_file: Path, destination: Path, duration: str = "1s") -> dict[str, Any]:
    """Copy a rule file with every ``for:`` set to ``duration`` and nothing else changed."""
    rules = yaml.safe_load(rule_file.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = duration
    destination.write_text(yaml.safe_dump(rules, sort_keys=False))
    return dict(rules)
