"""One exporter per state file: a second process refuses to start, and a kill -9 of the first
releases the file (the kernel drops the lock with the process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess


def test_a_second_exporter_on_one_state_file_refuses_until_the_first_dies(
    simulator: SimulatorProcess,
    exporter_factory: Callable[..., ExporterProcess],
    tmp_path: Path,
) -> None:
    state = f"--state.path={tmp_path / 'shared.db'}"
    env = {"AI_GATEWAY_API_KEY": "sk-state-lock-0123456789"}
    first = exporter_factory(simulator.url, state, env=env)
    second = exporter_factory(simulator.url, state, env=env, wait_ready=False)
    wait_until(lambda: not second.process.alive(), timeout=20, what="the second one to exit")
    assert second.stop() == 1
    last_line = second.process.output().strip().splitlines()[-1]
    assert last_line == (
        f"vercel-ai-gateway-exporter: state file {tmp_path / 'shared.db'} is in use by another "
        f"exporter (pid {first.process.pid}); two exporters on one state file lose counts: "
        "give each replica its own --state.path"
    )
    first.process.kill()
    third = exporter_factory(simulator.url, state, env=env)
    assert third.get("/readyz").status_code == 200
