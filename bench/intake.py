"""Intake: ``POST /generations``, IDs durably accepted per second, against a bare ASGI app.

The exporter is the real CLI process (one team, lookups held back by a long initial delay so
only intake runs); a 202 from it means the IDs are committed to its SQLite file with full
sync. The baseline is a Starlette app on the exporter's own uvicorn setup that reads the body
and answers 202 without doing anything. wrk sends unique, valid IDs (a Lua counter), so none
is a duplicate; afterwards the exporter's own counter must show every ID wrk saw accepted.
"""

from __future__ import annotations

import random
import time

import httpx

from bench.common import (
    Process,
    Row,
    exporter_cmd,
    launcher_cmd,
    log,
    metric_value,
    wrk,
)
from bench.context import Context
from exporter.generations.idcodec import CROCKFORD, time_part
from exporter.metrics import GENERATION_IDS_RECEIVED
from exporter.web.server import STACK
from tests.support.processes import free_port

BATCH_GOAL = 50_000.0  # IDs per second in batches of 1,000
SINGLE_GOAL = 0.8  # single-ID requests per second, as a share of the bare app's

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
    sim = ctx.simulator()
    work = ctx.scratch("intake")
    rng = random.Random()  # noqa: S311 - unique test IDs, not secrets
    ours_port, theirs_port = free_port(), free_port()
    ours = Process(
        exporter_cmd(
            f"--web.listen-address=127.0.0.1:{ours_port}",
            f"--gateway.url={sim.url}",
            f"--state.path={work / 'state.db'}",
            "--lookup.initial-delay=1h",
            "--ingest.max-pending=50000000",
            "--log.level=warn",
        ),
        work / "exporter.log",
        env={"AI_GATEWAY_API_KEY": "bench-intake-key"},
    )
    theirs = Process(launcher_cmd("bare_intake", str(theirs_port)), work / "baseline.log")
    rows: list[Row] = []
    seen = 0
    try:
        ours.wait_http(f"http://127.0.0.1:{ours_port}/readyz")
        theirs.wait_http(f"http://127.0.0.1:{theirs_port}/")
        seconds = ctx.seconds(8)
        for batch, connections in ((1000, 8), (1, 32)):
            urls = {
                "exporter": f"http://127.0.0.1:{ours_port}/generations",
                "baseline": f"http://127.0.0.1:{theirs_port}/generations",
            }
            results = {}
            for who, url in urls.items():
                warm = wrk(url, 2, connections, work, script(batch, rng))
                results[who] = wrk(url, seconds, connections, work, script(batch, rng))
                if who == "exporter":
                    seen += (warm.requests - warm.errors) * batch
                    seen += (results[who].requests - results[who].errors) * batch
            mine, base = results["exporter"], results["baseline"]
            log(f"intake batch={batch}: exporter {mine}, baseline {base}")
            if mine.errors:
                raise RuntimeError(f"intake answered {mine.errors} errors:\n{ours.output()}")
            if batch > 1:
                rows.append(
                    Row(
                        "Intake",
                        f"IDs accepted per second, {batch:,} per request, "
                        f"{connections} connections",
                        mine.rate * batch,
                        "IDs/s",
                        f"bare Starlette app answering 202 (same {STACK})",
                        base.rate * batch,
                        goal=f"≥ {BATCH_GOAL:,.0f} IDs/s",
                        met=mine.rate * batch >= BATCH_GOAL,
                        note=f"p99 {mine.p99_ms:.0f} ms vs {base.p99_ms:.0f} ms; "
                        "the baseline stores nothing",
                        load_cpu=f"{mine.cores} (baseline: {base.cores})",
                    )
                )
            else:
                rows.append(
                    Row(
                        "Intake",
                        f"single-ID requests per second, {connections} connections",
                        mine.rate,
                        "req/s",
                        f"bare Starlette app answering 202 (same {STACK})",
                        base.rate,
                        goal=f"≥ {SINGLE_GOAL}x",
                        met=mine.rate >= SINGLE_GOAL * base.rate,
                        note=f"p99 {mine.p99_ms:.0f} ms vs {base.p99_ms:.0f} ms; "
                        "the baseline stores nothing",
                        load_cpu=f"{mine.cores} (baseline: {base.cores})",
                    )
                )
        text = httpx.get(f"http://127.0.0.1:{ours_port}/metrics", timeout=30).text
        labels = {"vercel_team": "default", "intake": "http"}
        name = GENERATION_IDS_RECEIVED.name
        accepted = metric_value(text, name, result="accepted", **labels)
        duplicates = metric_value(text, name, result="duplicate", **labels)
        log(f"intake: exporter counted {accepted:.0f} accepted, {duplicates:.0f} duplicates")
        if accepted < seen or duplicates:
            raise RuntimeError(f"intake lost IDs: {accepted} accepted, wrk saw {seen} acknowledged")
    finally:
        ours.stop()
        theirs.stop()
    return rows
