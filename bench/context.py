"""What a benchmark run shares: a scratch directory, one simulator, the time scale."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Process, Simulator, exporter_cmd, log
from bench.state import BigState, build
from tests.support.processes import free_port

# Exporter flags that leave only intake running: lookups held back an hour, no queue bound in
# the way.
INTAKE_ONLY = ("--lookup.initial-delay=1h", "--ingest.max-pending=50000000")


class Context:
    def __init__(self, workdir: Path, scale: float = 1.0) -> None:
        self._big_state: BigState | None = None
        self.workdir = workdir
        self.scale = scale  # < 1 shortens every timed run (for a quick look)
        self._simulator: Simulator | None = None

    def seconds(self, nominal: float) -> float:
        return max(2.0, round(nominal * self.scale))

    def simulator(self) -> Simulator:
        """A plain simulator (no latency) for the exporter's credits polls."""
        if self._simulator is None:
            self._simulator = Simulator(self.workdir / "simulator")
        return self._simulator

    def scratch(self, name: str) -> Path:
        """A new directory for one benchmark's run: with --runs, a second run must not find
        the first one's state files or logs (a stale readiness line in a reused log sent a
        scrape to a server not listening yet)."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))

    def exporter_on(self, state: Path, work: Path, tag: str, *args: str) -> tuple[Process, str]:
        """The exporter CLI on ``state`` and a free port, polling this run's simulator, with
        ``args`` beside; the caller waits for it (and stops it)."""
        port = free_port()
        proc = Process(
            exporter_cmd(
                f"--web.listen-address=127.0.0.1:{port}",
                f"--gateway.url={self.simulator().url}",
                f"--state.path={state}",
                "--log.level=warn",
                *args,
            ),
            work / f"exporter-{tag}.log",
            env={"AI_GATEWAY_API_KEY": f"bench-{work.name}-key"},
        )
        return proc, f"http://127.0.0.1:{port}"

    def big_state(self) -> BigState:
        """1,000,000 resolved and 100,000 pending IDs (built once per run)."""
        if self._big_state is None:
            log("building a state file with 1,000,000 resolved and 100,000 pending IDs")
            self._big_state = build(self.workdir / "state")
            log(f"built in {self._big_state.seconds:.1f} s")
        return self._big_state

    def close(self) -> None:
        if self._simulator is not None:
            self._simulator.stop()
            self._simulator = None
