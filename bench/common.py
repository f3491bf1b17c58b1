"""What every benchmark needs: processes on 127.0.0.1, wrk, /proc readings, result rows."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# What Prometheus 3 sends with a scrape: OpenMetrics first, gzip.
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,"
    "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
    "Accept-Encoding": "gzip",
}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the table: our figure, the baseline's, their ratio and the goal."""

    benchmark: str
    measure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    goal: str = ""
    met: bool | None = None  # None: no goal for this line
    note: str = ""
    load_cpu: str = ""  # what the load generator itself used of the shared cores

    @property
    def ratio(self) -> float | None:
        if self.baseline_value in (None, 0):
            return None
        return self.value / self.baseline_value


def fmt(value: float, unit: str) -> str:
    if unit in ("MB", "s", "ms"):
        return f"{value:,.2f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if value >= 100:
        return f"{value:,.0f} {unit}".strip()
    return f"{value:,.1f} {unit}".strip()


# --- machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(
            f"{name} {package_version(name)}"
            for name in (
                "uvicorn",
                "httptools",
                "uvloop",
                "starlette",
                "prometheus-client",
                "httpx",
                "httpcore",
                "sniffio",
            )
        ),
        "wrk": _tool_version(["wrk", "-v"]),
    }


def _tool_version(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return "missing"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "unknown"


# --- processes ------------------------------------------------------------------------------


class Process(ManagedProcess):
    """A benchmark's child process (the test suite's, with the repository on PYTHONPATH so the
    launchers in bench/servers import), plus the memory figures of /proc."""

    def __init__(
        self, args: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(args, log_path, {"PYTHONPATH": _pythonpath(), **(env or {})})

    def cpu_seconds(self) -> float:
        """User plus system CPU time so far, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) in kB, from /proc."""
        out = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
        return out


def _pythonpath() -> str:
    return os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)


def exporter_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "exporter", *args]


def launcher_cmd(module: str, *args: str) -> list[str]:
    return [PYTHON, "-m", f"bench.servers.{module}", *args]


class Simulator:
    """The bundled simulator as a process (``simulate``), with its control API."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = Process(
            exporter_cmd(
                "simulate",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--rate=0",
                "--log.level=warn",
                *args,
            ),
            workdir / f"simulator-{self.port}.log",
        )
        self.process.wait_http(f"{self.url}/v1/models")

    def control(self, path: str, body: Any, key: str) -> Any:
        resp = httpx.post(
            f"{self.url}/_sim/{path}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        resp.raise_for_status()
        return resp.json()

    def requests(self) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/_sim/requests", timeout=60)
        resp.raise_for_status()
        return list(resp.json()["requests"])

    def stop(self) -> None:
        self.process.stop()


def metric_value(text: str, sample: str, **labels: str) -> float:
    """One sample's value from a text exposition (0 if absent), without a full parse."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(sample)}(\{{[^}}]*\}})? (\S+)$", re.M)
    for match in pattern.finditer(text):
        got = ",".join(sorted((match.group(1) or "{}")[1:-1].split(","))) if labels else ""
        if got == want or (not labels and match.group(1) is None):
            return float(match.group(2))
    return 0.0


def metric_sum(text: str, sample: str, **labels: str) -> float:
    """The sum of a sample's values over every series that has ``labels`` (all of them when
    none are given), without a full parse."""
    pattern = re.compile(rf"^{re.escape(sample)}(\{{[^}}]*\}})? (\S+)$", re.M)
    want = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for match in pattern.finditer(text):
        if want <= set((match.group(1) or "{}")[1:-1].split(",")):
            total += float(match.group(2))
    return total


# --- load -----------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
    .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Load:
    requests: int
    seconds: float
    errors: int  # socket errors and non-2xx answers
    p50_ms: float
    p99_ms: float
    bytes: int
    cpu_seconds: float = 0.0  # wrk's own user + system time

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds

    @property
    def cores(self) -> str:
        """wrk's CPU as a share of the run: what it took from the cores it shares."""
        return f"wrk {self.cpu_seconds / self.seconds:.2f} cores"


def wrk(
    url: str,
    seconds: float,
    connections: int,
    workdir: Path,
    script: str = "",
    headers: Mapping[str, str] | None = None,
    threads: int = 1,
) -> Load:
    """``wrk`` for ``seconds`` (bounded), with an optional Lua ``script`` for the requests."""
    path = workdir / f"wrk-{abs(hash((script, url))) % 10**8}.lua"
    path.write_text(script + _WRK_DONE)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "30s"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    cmd += ["-s", str(path), url]
    before = children_cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu = children_cpu_seconds() - before
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=errors,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        bytes=data["bytes"],
        cpu_seconds=cpu,
    )


def children_cpu_seconds() -> float:
    """CPU time of this process' finished children (the load generators it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], share: float) -> float:
    """The value ``share`` of the way up ``values`` sorted (0 when there are none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def median_time(func: Callable[[], object], runs: int, max_seconds: float) -> float:
    """Median wall time of ``func`` over up to ``runs`` calls, stopping after ``max_seconds``."""
    times: list[float] = []
    deadline = time.monotonic() + max_seconds
    while len(times) < runs and (not times or time.monotonic() < deadline):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
