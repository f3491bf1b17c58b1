"""A recognisable key, at debug level, through success and every failure: it never shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from exporter import metrics
from exporter.simulator.faults import FAULT_MODES
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

SECRET = "sk-CANARY-7f3a9c1e5b2d4f6a8c0e"


def test_the_key_never_reaches_logs_metrics_or_the_landing_page(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    simulator = simulator_factory(f"--api-key=prod={SECRET}")
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")
    config = {"teams": [{"name": "prod", "api_key_file": str(key_file)}]}
    exp = exporter_factory(
        simulator.url, "--log.level=debug", "--gateway.timeout=1s", config=config
    )
    seen: list[str] = []

    def look() -> None:
        seen.append(exp.metrics_text())
        seen.append(exp.get("/").text)
        seen.append(exp.get("/readyz").text)

    def more_requests_than(count: int) -> Callable[[], bool]:
        return lambda: len(simulator.requests()) > count

    look()
    for mode in FAULT_MODES:
        polled = more_requests_than(len(simulator.requests()))
        simulator.fault(mode, retry_after=1, delay=1.5)
        wait_until(polled, 15, what=f"a poll under {mode}")
        look()
    simulator.fault(None)
    # Rotate to a key the simulator does not know: 401s with the new key.
    key_file.write_text(SECRET[::-1] + "\n")
    wait_until(
        lambda: (
            exp.value(metrics.API_REQUESTS, vercel_team="prod", api_endpoint="credits", code="401")
            is not None
        ),
        15,
        what="a 401",
    )
    look()
    exp.stop()
    seen.append(exp.process.output())
    for text in seen:
        assert SECRET not in text
        assert SECRET[::-1] not in text
    assert "level=debug" in seen[-1], "the run really logged at debug level"
