"""Real processes on 127.0.0.1 for integration tests: free ports, start, wait, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Ask the kernel for a free loopback port (racy by nature, good enough for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (then fail loudly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http_ok(url: str, **kwargs: object) -> bool:
    """True when ``url`` answers 200; any error counts as not yet."""
    try:
        return httpx.get(url, timeout=2.0, **kwargs).status_code == 200  # type: ignore[arg-type]
    except httpx.HTTPError:
        return False


class ManagedProcess:
    """A child process whose output goes to a log file, stopped by the test that started it."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = log_path.open("ab")
        full_env = {**os.environ, **(env or {})}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd or REPO_ROOT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def _check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(
                f"{self.args[0]} exited with {self.proc.returncode}:\n{self.output()}"
            )

    def wait_http(
        self, url: str, timeout: float = 20.0, interval: float = 0.1, **kwargs: object
    ) -> float:
        """Wait until ``url`` answers 200, failing early (with the log) if the process dies;
        returns the seconds since the process was started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if http_ok(url, **kwargs):
                return time.monotonic() - self.started
            time.sleep(interval)
        raise TimeoutError(f"{url} not ready after {timeout:.0f}s:\n{self.output()}")

    def wait_line(self, text: str, timeout: float = 60.0) -> None:
        """Wait until the log holds ``text`` (a launcher's readiness line)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            self._check_alive()
            time.sleep(0.05)
        raise TimeoutError(f"no {text!r} after {timeout:.0f}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return int(self.proc.returncode)


def exporter_command(*args: str) -> list[str]:
    """The exporter CLI as a subprocess, using this interpreter."""
    return [sys.executable, "-m", "exporter", *args]
