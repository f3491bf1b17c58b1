"""The simulator and the exporter as real processes, with small typed handles for tests."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter import metrics
from exporter.metrics import Family
from tests.support.processes import ManagedProcess, exporter_command, free_port, wait_until


def sample_name(metric: Family | str) -> str:
    """The sample name of a counter or gauge family (a histogram's parts are named apart)."""
    if isinstance(metric, str):
        return metric
    if len(metric.series_names) != 1:
        raise ValueError(f"{metric.name} is a histogram: name one of {metric.series_names}")
    return metric.name


class SimulatorProcess:
    """``vercel-ai-gateway-exporter simulate`` on a free port, plus its control API."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            exporter_command(
                "simulate", f"--web.listen-address=127.0.0.1:{self.port}", "--rate=0", *args
            ),
            workdir / f"simulator-{self.port}.log",
        )
        self.process.wait_http(f"{self.url}/v1/models")

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def control(self, path: str, body: Any = None, key: str | None = None) -> Any:
        resp = httpx.post(
            f"{self.url}/_sim/{path}", json=body, headers=self._headers(key), timeout=10
        )
        resp.raise_for_status()
        return resp.json()

    def truth(self, key: str | None = None) -> dict[str, Any]:
        resp = httpx.get(f"{self.url}/_sim/truth", headers=self._headers(key), timeout=10)
        resp.raise_for_status()
        teams: dict[str, Any] = resp.json()["teams"]
        return teams

    def team_truth(self, key: str) -> dict[str, Any]:
        (team,) = self.truth(key).values()
        truth: dict[str, Any] = team
        return truth

    def requests(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/_sim/requests", timeout=10)
        return list(resp.json()["requests"])

    def fault(self, mode: str | None, **options: Any) -> None:
        if mode is None:
            httpx.delete(f"{self.url}/_sim/faults", timeout=10).raise_for_status()
        else:
            self.control("faults", {"mode": mode, **options})

    def stop(self) -> None:
        self.process.stop()


class ExporterProcess:
    """The exporter as a real process, pointed at a gateway URL."""

    def __init__(
        self,
        workdir: Path,
        gateway_url: str,
        *args: str,
        env: Mapping[str, str] | None = None,
        config: dict[str, Any] | None = None,
        wait_ready: bool = True,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--gateway.url={gateway_url}",
            "--credits.interval=1s",
            *args,
        ]
        if not any(arg.startswith("--state.path") for arg in args):
            argv.append(f"--state.path={workdir / f'state-{self.port}.db'}")
        if config is not None:
            config_path = workdir / f"config-{self.port}.yaml"
            config_path.write_text(yaml.safe_dump(config))
            argv.append(f"--config.file={config_path}")
        self.process = ManagedProcess(
            exporter_command(*argv), workdir / f"exporter-{self.port}.log", env=dict(env or {})
        )
        if wait_ready:
            try:
                self.process.wait_http(f"{self.url}/readyz")
            except BaseException:
                self.process.stop()  # the factory never saw it, so nobody else would
                raise

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)

    def metrics_text(self) -> str:
        resp = self.get("/metrics")
        resp.raise_for_status()
        return resp.text

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample as {(name, sorted labels): value}."""
        out = {}
        for family in text_string_to_metric_families(self.metrics_text()):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def series(self, metric: Family | str) -> list[tuple[dict[str, str], float]]:
        """Every sample of one family (a counter or gauge) or one sample name, with its labels."""
        name = sample_name(metric)
        return [(dict(labels), v) for (n, labels), v in self.samples().items() if n == name]

    def value(self, metric: Family | str, **labels: str) -> float | None:
        """One sample's value (None when absent): a counter or gauge family from
        exporter.metrics, or a sample name such as ``f"{GENERATION_COST.name}_count"``."""
        return self.samples().get((sample_name(metric), tuple(sorted(labels.items()))))

    def received(self, intake: str, result: str, team: str = "default") -> float:
        """Generation IDs received on ``intake`` (otlp, http …) with ``result`` (accepted,
        duplicate …): 0 before the first."""
        family = metrics.GENERATION_IDS_RECEIVED
        return self.value(family, vercel_team=team, intake=intake, result=result) or 0.0

    def wait_looked_up(self, found: int, timeout: float, team: str = "default") -> None:
        """Wait until ``team``'s queue is empty and exactly ``found`` lookups found their
        record: the point from which end-to-end tests compare what was counted."""
        wait_until(
            lambda: (
                self.value(metrics.GENERATION_QUEUE_LENGTH, vercel_team=team) == 0
                and self.value(metrics.GENERATION_LOOKUPS, vercel_team=team, outcome="found")
                == found
            ),
            timeout,
            interval=0.5,
            what=f"{found} generations of {team} looked up and none queued",
        )

    def stop(self) -> int:
        return self.process.stop()
