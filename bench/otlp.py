"""OTLP intake: ``POST /v1/traces``, spans taken per second, against a bare decoding app.

Each request is OTLP/HTTP protobuf with 100 spans shaped like the AI SDK's
``ai.generateText.doGenerate`` (the gateway's ``generationId`` inside
``ai.response.providerMetadata``), one fresh generation ID each. The exporter is the real CLI
process (lookups held back, so only intake runs); a 200 from it means the IDs are committed to
its SQLite file. The baseline is a Starlette app on the exporter's own uvicorn setup that
decodes the same requests with the same bindings (``ExportTraceServiceRequest.ParseFromString``),
reads each span's ID from the one attribute it is in and stores the IDs as durably as the
exporter does before answering (``servers/durable.py``): the floor of a durable OTLP intake.
wrk builds every body from one serialized template whose IDs all have the
same length, so a Lua counter can put fresh ones in without re-encoding; afterwards the
exporter's own counters must show every span and ID wrk saw acknowledged.
"""

from __future__ import annotations

import json
import random
import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench import goals
from bench.common import Process, Row, launcher_cmd, log, metric_value, wrk
from bench.context import INTAKE_ONLY, Context
from exporter import routes
from exporter.gateway.models import is_generation_id
from exporter.generations.idcodec import CROCKFORD, time_part
from exporter.metrics import GENERATION_IDS_RECEIVED, GENERATION_TRACE_SPANS
from exporter.web.server import STACK
from tests.support.otlp import do_generate, request
from tests.support.processes import free_port

SPANS = 100  # per request, one generation ID each
CONNECTIONS = 8
PREFIX = 8  # random characters that make this run's IDs its own; a counter fills the rest
PLACEHOLDER = "gen_" + "~" * 26  # as long as an ID, and never one
SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.,:;{}()[]")

_SCRIPT = """
local pieces = {{{pieces}}}
local spans = #pieces - 1
local counter = 0
local headers = {{["Content-Type"] = "application/x-protobuf"}}
request = function()
  local parts = {{}}
  for i = 1, spans do
    counter = counter + 1
    parts[2 * i - 1] = pieces[i]
    parts[2 * i] = string.format("gen_{prefix}%0{width}d", counter)
  end
  parts[2 * spans + 1] = pieces[spans + 1]
  return wrk.format("POST", "{path}", headers, table.concat(parts))
end
"""


def template() -> list[bytes]:
    """A serialized request of ``SPANS`` model-call spans, cut at each span's ID."""
    body = request([do_generate(PLACEHOLDER) for _ in range(SPANS)]).SerializeToString()
    pieces = body.split(PLACEHOLDER.encode())
    if len(pieces) != SPANS + 1:
        raise AssertionError(f"the template holds {len(pieces) - 1} IDs, not {SPANS}")
    return pieces


def fill(pieces: list[bytes], ids: list[str]) -> bytes:
    """What the Lua script sends, built in Python to check it before timing."""
    out = [pieces[0]]
    for gen_id, piece in zip(ids, pieces[1:], strict=True):
        out += [gen_id.encode(), piece]
    return b"".join(out)


def check(pieces: list[bytes], prefix: str) -> None:
    """The filled template decodes to ``SPANS`` spans, each naming its own valid ID."""
    width = 26 - len(prefix)
    ids = [f"gen_{prefix}{n:0{width}d}" for n in range(1, SPANS + 1)]
    message = ExportTraceServiceRequest.FromString(fill(pieces, ids))
    spans = [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    found = []
    for span in spans:
        (metadata,) = (
            a.value.string_value for a in span.attributes if a.key == "ai.response.providerMetadata"
        )
        found.append(json.loads(metadata)["gateway"]["generationId"])
    if found != ids or not all(is_generation_id(gen_id) for gen_id in ids):
        raise AssertionError(f"the template does not carry the IDs it should: {found[:3]}")


def lua_string(raw: bytes) -> str:
    """A Lua string literal of any bytes (three-digit decimal escapes, so none runs on)."""
    return '"' + "".join(chr(b) if b in SAFE else f"\\{b:03d}" for b in raw) + '"'


def script(pieces: list[bytes], rng: random.Random) -> str:
    """A wrk script posting ``SPANS`` fresh IDs per request (a new prefix on every call)."""
    prefix = time_part(time.time()) + "".join(rng.choice(CROCKFORD) for _ in range(PREFIX))
    check(pieces, prefix)
    return _SCRIPT.format(
        pieces=", ".join(lua_string(p) for p in pieces),
        prefix=prefix,
        width=26 - len(prefix),
        path=routes.TRACES,
    )


def run(ctx: Context) -> list[Row]:
    work = ctx.scratch("otlp")
    rng = random.Random()  # noqa: S311 - unique test IDs, not secrets
    pieces = template()
    ours, ours_url = ctx.exporter_on(work / "state.db", work, "otlp", *INTAKE_ONLY)
    theirs_port = free_port()
    theirs = Process(
        launcher_cmd("bare_otlp", str(theirs_port), str(work / "baseline.db")),
        work / "baseline.log",
    )
    seen = 0
    try:
        ours.wait_http(f"{ours_url}/readyz")
        theirs.wait_http(f"http://127.0.0.1:{theirs_port}/")
        seconds = ctx.seconds(8)
        results = {}
        for who, root in (("exporter", ours_url), ("baseline", f"http://127.0.0.1:{theirs_port}")):
            url = f"{root}{routes.TRACES}"
            warm = wrk(url, 2, CONNECTIONS, work, script(pieces, rng))
            results[who] = wrk(url, seconds, CONNECTIONS, work, script(pieces, rng))
            if who == "exporter":
                for load in (warm, results[who]):
                    seen += (load.requests - load.errors) * SPANS
        mine, base = results["exporter"], results["baseline"]
        log(f"otlp: exporter {mine}, baseline {base}")
        if mine.errors or base.errors:
            raise RuntimeError(
                f"OTLP intake answered {mine.errors} errors, the baseline {base.errors}:\n"
                f"{ours.output()}"
            )
        text = httpx.get(f"{ours_url}/metrics", timeout=30).text
        team = {"vercel_team": "default"}
        name = GENERATION_IDS_RECEIVED.name
        accepted = metric_value(text, name, intake="otlp", result="accepted", **team)
        duplicates = metric_value(text, name, intake="otlp", result="duplicate", **team)
        spans = metric_value(text, GENERATION_TRACE_SPANS.name, result="with_id", **team)
        log(f"otlp: exporter counted {spans:.0f} spans, {accepted:.0f} IDs accepted")
        if accepted < seen or spans < seen or duplicates:
            raise RuntimeError(
                f"OTLP intake lost spans: {spans:.0f} spans and {accepted:.0f} IDs counted "
                f"({duplicates:.0f} duplicates), wrk saw {seen} acknowledged"
            )
    finally:
        ours.stop()
        theirs.stop()
    rate, base_rate = mine.rate * SPANS, base.rate * SPANS
    return [
        Row(
            "OTLP intake",
            f"spans per second, protobuf, {SPANS} spans per request with one ID each, "
            f"{CONNECTIONS} connections",
            rate,
            "spans/s",
            "bare Starlette app decoding with `ExportTraceServiceRequest.ParseFromString`, "
            f"reading the one ID attribute and committing the IDs to SQLite (same {STACK})",
            base_rate,
            goal=f"≥ {goals.OTLP_RATE:,.0f} spans/s and ≥ {goals.OTLP_RATIO}x",
            met=rate >= goals.OTLP_RATE and rate >= goals.OTLP_RATIO * base_rate,
            note=f"p99 {mine.p99_ms:.0f} ms vs {base.p99_ms:.0f} ms",
            load_cpu=f"{mine.cores} (baseline: {base.cores})",
        )
    ]
