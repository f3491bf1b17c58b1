"""Intake: ``POST /generations``, IDs durably accepted per second, against bare ASGI apps.

The exporter is the real CLI process (one team, lookups held back by a long initial delay so
only intake runs); a 202 from it means the IDs are committed to its SQLite file with full
sync. The baseline that does the same durable work is a Starlette app on the exporter's own
uvicorn setup that parses the IDs, commits them to SQLite with the exporter's durability
settings and group commit (``servers/durable.py``) and then answers 202; the same app storing
nothing is reported beside it for single IDs. wrk sends unique, valid IDs (a Lua counter), so
none is a duplicate; afterwards the exporter's own counter must show every ID wrk saw
accepted.
"""

from __future__ import annotations

import random
import time

import httpx

from bench import goals
from bench.common import (
    Load,
    Process,
    Row,
    launcher_cmd,
    log,
    metric_value,
    wrk,
)
from bench.context import INTAKE_ONLY, Context
from exporter.generations.idcodec import CROCKFORD, time_part
from exporter.metrics import GENERATION_IDS_RECEIVED
from exporter.web.server import STACK
from tests.support.processes import free_port

_SCRIPT = """
local counter = 0
local batch = {batch}
local fmt = '"gen_{prefix}%0{width}d"'
local headers = {{["Content-Type"] = "application/json"}}
request = function()
  local parts = {{}}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = string.format(fmt, counter)
  end
  local body
  if batch == 1 then
    body = '{{"id":' .. parts[1] .. '}}'
  else
    body = '{{"ids":[' .. table.concat(parts, ",") .. ']}}'
  end
  return wrk.format("POST", "/generations", headers, body)
end
"""


def script(batch: int, rng: random.Random) -> str:
    """A wrk script posting ``batch`` fresh IDs per request (a new prefix on every call)."""
    prefix = time_part(time.time()) + "".join(rng.choice(CROCKFORD) for _ in range(8))
    return _SCRIPT.format(batch=batch, prefix=prefix, width=26 - len(prefix))


def run(ctx: Context) -> list[Row]:
    work = ctx.scratch("intake")
    rng = random.Random()  # noqa: S311 - unique test IDs, not secrets
    ours, ours_url = ctx.exporter_on(work / "state.db", work, "intake", *INTAKE_ONLY)
    ports = {who: free_port() for who in ("durable", "stateless")}
    urls = {"exporter": ours_url} | {who: f"http://127.0.0.1:{port}" for who, port in ports.items()}
    processes = {
        "exporter": ours,
        "durable": Process(
            launcher_cmd("bare_intake", str(ports["durable"]), str(work / "baseline.db")),
            work / "durable.log",
        ),
        "stateless": Process(
            launcher_cmd("bare_intake", str(ports["stateless"])), work / "stateless.log"
        ),
    }
    rows: list[Row] = []
    seen = 0
    try:
        ours.wait_http(f"{ours_url}/readyz")
        for who in ports:
            processes[who].wait_http(f"{urls[who]}/")
        seconds = ctx.seconds(8)
        for batch, connections in ((1000, 8), (1, 32)):
            results = {}
            for who in ("exporter", "durable") if batch > 1 else urls:
                url = f"{urls[who]}/generations"
                warm = wrk(url, 2, connections, work, script(batch, rng))
                results[who] = wrk(url, seconds, connections, work, script(batch, rng))
                if who == "exporter":
                    seen += (warm.requests - warm.errors) * batch
                    seen += (results[who].requests - results[who].errors) * batch
            log(f"intake batch={batch}: {results}")
            if any(load.errors for load in results.values()):
                raise RuntimeError(f"intake answered errors: {results}\n{ours.output()}")
            rows += _rows(batch, connections, results)
        text = httpx.get(f"{ours_url}/metrics", timeout=30).text
        labels = {"vercel_team": "default", "intake": "http"}
        name = GENERATION_IDS_RECEIVED.name
        accepted = metric_value(text, name, result="accepted", **labels)
        duplicates = metric_value(text, name, result="duplicate", **labels)
        log(f"intake: exporter counted {accepted:.0f} accepted, {duplicates:.0f} duplicates")
        if accepted < seen or duplicates:
            raise RuntimeError(f"intake lost IDs: {accepted} accepted, wrk saw {seen} acknowledged")
    finally:
        for process in processes.values():
            process.stop()
    return rows


DURABLE = f"bare Starlette app committing the IDs to SQLite before its 202 (same {STACK})"
STATELESS = f"bare Starlette app answering 202, storing nothing (same {STACK})"


def _rows(batch: int, connections: int, results: dict[str, Load]) -> list[Row]:
    """The exporter against the durable floor (and, for single IDs, the stateless one)."""
    mine, durable = results["exporter"], results["durable"]

    def note(base: Load) -> str:
        return f"p99 {mine.p99_ms:.0f} ms vs {base.p99_ms:.0f} ms"

    cores = f"{mine.cores} (baseline: {durable.cores})"
    if batch > 1:
        return [
            Row(
                "Intake",
                f"IDs accepted per second, {batch:,} per request, {connections} connections",
                mine.rate * batch,
                "IDs/s",
                DURABLE,
                durable.rate * batch,
                goal=f"≥ {goals.INTAKE_BATCH:,.0f} IDs/s",
                met=mine.rate * batch >= goals.INTAKE_BATCH,
                note=note(durable),
                load_cpu=cores,
            )
        ]
    stateless = results["stateless"]
    measure = f"single-ID requests per second, {connections} connections"
    return [
        Row(
            "Intake",
            measure,
            mine.rate,
            "req/s",
            DURABLE,
            durable.rate,
            goal=f"≥ {goals.INTAKE_SINGLE}x",
            met=mine.rate >= goals.INTAKE_SINGLE * durable.rate,
            note=note(durable),
            load_cpu=cores,
        ),
        Row(
            "Intake",
            measure + " (reported: against an app that stores nothing)",
            mine.rate,
            "req/s",
            STATELESS,
            stateless.rate,
            note=note(stateless),
            load_cpu=f"{mine.cores} (baseline: {stateless.cores})",
        ),
    ]
