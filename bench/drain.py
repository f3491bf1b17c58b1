"""Trace drain: AI Gateway's own signed deliveries, generations counted per second, and the
exporter's CPU per generation against the lookup path's for the very same generations.

The generations are made in the simulator (its control API) and read back from its truth, so
both paths count the same ones: the same models, providers, costs, token counts, BYOK and
streaming shares as a lookup returns.

The drain side: each generation becomes the root span the gateway makes of it
(tests/support/drain.py's ``root_of``: generation ID, cost, tokens, timings) with two
provider-attempt children, the first failed; 100 requests per signed OTLP/HTTP protobuf
delivery (``x-vercel-signature``: hex HMAC-SHA1 of the body with the drain secret). Every body
is built, signed and checked before the clock starts: that is the generator's cost, not the
exporter's. An asyncio httpx client keeps ``IN_FLIGHT`` deliveries in flight against the real
CLI (``--drain.secret-file``) until each is answered 200, which means committed to the state
with its generations in the histograms. The exporter's own counters must then show every
generation observed once, every attempt counted and ``generation_lookups_total`` at 0.

The baseline is what the exporter does for the same generations without the drain: their IDs
posted to ``POST /generations`` 1,000 per request and looked up against the simulator with no
added latency, the rate limit out of the way and ``LOOKUP_CONCURRENCY`` in flight (the cheapest
per lookup measured), from the first post until every record is committed. That is the path
the drain replaces, run at its cheapest, so the ratio is not flattered. Both figures are the
exporter process's own CPU time (user + system of all its threads, from /proc) over the timed
part, divided by the generations counted.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench import goals
from bench.common import Process, Row, Simulator, exporter_cmd, log, metric_sum, metric_value
from bench.context import Context
from exporter import routes
from exporter.generations.drain import GENERATION_ID
from exporter.metrics import (
    DRAIN_DELIVERIES,
    DRAIN_TRACE_EVENTS,
    GENERATION_COST,
    GENERATION_LOOKUPS,
    PROVIDER_ATTEMPTS,
    SOURCE_UP,
)
from tests.support.drain import SECRET, attempt, delivery, root_of, sign, traces
from tests.support.processes import free_port

KEY = "bench-drain-key"
TEAM = "default"
PER_DELIVERY = 100  # requests (root spans) per delivery, each with ATTEMPTS children
ATTEMPTS = 2  # provider attempts per request: the first fails, the second answers
FAILED_ATTEMPT = "rate_limited"
GENERATIONS = 30_000  # timed, each path, at scale 1
WARM_UP = 5  # deliveries sent before the clock starts (first calls, catalog, caches)
IN_FLIGHT = 4  # deliveries in flight at once
ID_BATCH = 1_000  # IDs per POST /generations on the lookup path
LOOKUP_CONCURRENCY = 4  # the cheapest per lookup of 2, 4, 8, 16 and 64 (bench/README.md)
# Where a request went first when it failed over (the simulator's providers); a provider not
# listed retried on itself.
FALLBACK_PROVIDER = {
    "anthropic": "bedrock",
    "bedrock": "vertex",
    "vertex": "anthropic",
    "openai": "azure",
    "azure": "openai",
    "groq": "cerebras",
    "cerebras": "groq",
    "novita": "deepinfra",
    "deepinfra": "novita",
}

Body = tuple[bytes, dict[str, str]]
Generation = dict[str, Any]


# --- the deliveries --------------------------------------------------------------------------


def request_spans(generation: Generation) -> list[Span]:
    """The root span the gateway makes of a generation (from the simulator's truth record)
    and its provider attempts: one that failed, then the one that answered."""
    parent = root_of(generation)
    answering: str = generation["provider_name"]
    model: str = generation["model"]
    failing = FALLBACK_PROVIDER.get(answering, answering)
    return [
        parent,
        attempt(parent, failing, model=model, error=FAILED_ATTEMPT),
        attempt(parent, answering, model=model),
    ]


def deliveries(generations: list[Generation]) -> list[Body]:
    """Signed protobuf deliveries of ``PER_DELIVERY`` requests each."""
    out = []
    for start in range(0, len(generations), PER_DELIVERY):
        chunk = generations[start : start + PER_DELIVERY]
        out.append(delivery(traces([span for g in chunk for span in request_spans(g)])))
    return out


def check(body: Body) -> list[str]:
    """The generation IDs of a delivery, once it is checked to be what the benchmark says:
    signed with the drain secret, ``PER_DELIVERY`` distinct IDs, ``ATTEMPTS`` client spans
    for each."""
    data, headers = body
    if headers.get("x-vercel-signature") != sign(data, SECRET):
        raise AssertionError("the delivery is not signed with the drain secret")
    message = ExportTraceServiceRequest.FromString(data)
    spans = [s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans]
    ids = [a.value.string_value for s in spans for a in s.attributes if a.key == GENERATION_ID]
    clients = sum(1 for s in spans if s.kind == Span.SPAN_KIND_CLIENT)
    if len(set(ids)) != len(ids) or len(ids) != PER_DELIVERY:
        raise AssertionError(f"the delivery holds {len(set(ids))} distinct IDs in {len(ids)}")
    if clients != PER_DELIVERY * ATTEMPTS or len(spans) != PER_DELIVERY * (1 + ATTEMPTS):
        raise AssertionError(f"the delivery holds {clients} attempts in {len(spans)} spans")
    return ids


@dataclass(frozen=True)
class Sent:
    seconds: float
    client_cpu: float  # this process's CPU meanwhile: the generator's
    latencies: tuple[float, ...]

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def send(url: str, bodies: list[Body], in_flight: int) -> Sent:
    """Post every body, ``in_flight`` at once over kept-alive connections; each must be 200."""
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    pending = iter(bodies)
    latencies: list[float] = []
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            for data, headers in pending:  # one iterator: each body is taken once
                begun = time.perf_counter()
                response = await client.post(url, content=data, headers=headers)
                latencies.append(time.perf_counter() - begun)
                if response.status_code != 200:
                    raise RuntimeError(f"delivery answered {response.status_code}: {response.text}")

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Sent(seconds, cpu, tuple(latencies))


# --- the two paths ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    generations: int
    seconds: float
    exporter_cpu: float  # seconds of the exporter process
    load: str  # what the load generator took of the shared cores
    note: str = ""

    @property
    def rate(self) -> float:
        return self.generations / self.seconds

    @property
    def cpu_us(self) -> float:
        """Exporter CPU per generation, in microseconds."""
        return self.exporter_cpu / self.generations * 1e6


def exporter(work: Path, sim: Simulator, tag: str, *args: str) -> tuple[Process, str]:
    """The CLI on a free port, ready, with the model catalog read (cache savings are priced
    from it on both paths)."""
    port = free_port()
    proc = Process(
        exporter_cmd(
            f"--web.listen-address=127.0.0.1:{port}",
            f"--gateway.url={sim.url}",
            f"--state.path={work / f'state-{tag}.db'}",
            "--log.level=warn",
            *args,
        ),
        work / f"exporter-{tag}.log",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{base}/readyz")
    deadline = time.monotonic() + 30
    while True:
        text = httpx.get(f"{base}/metrics", timeout=30).text
        if metric_value(text, SOURCE_UP.name, vercel_team=TEAM, source="catalog") == 1:
            return proc, base
        if time.monotonic() > deadline:
            proc.stop()
            raise TimeoutError(f"the exporter never read the catalog:\n{proc.output()}")
        time.sleep(0.1)


def drain_path(work: Path, sim: Simulator, warm: list[Body], timed: list[Body]) -> Measured:
    secret = work / "drain.secret"
    secret.write_text(SECRET + "\n")
    proc, base = exporter(work, sim, "drain", f"--drain.secret-file={secret}")
    try:
        url = f"{base}{routes.TRACES}"
        asyncio.run(send(url, warm, IN_FLIGHT))
        before = proc.cpu_seconds()
        sent = asyncio.run(send(url, timed, IN_FLIGHT))
        cpu = proc.cpu_seconds() - before
        text = httpx.get(f"{base}/metrics", timeout=30).text
    finally:
        proc.stop()
    total = (len(warm) + len(timed)) * PER_DELIVERY
    events, deliveries_total = DRAIN_TRACE_EVENTS.name, DRAIN_DELIVERIES.name
    counted = {
        "deliveries": metric_value(text, deliveries_total, vercel_team=TEAM, result="accepted"),
        "observed": metric_value(text, events, vercel_team=TEAM, result="observed"),
        "trace events": metric_sum(text, events),
        "in the cost histogram": metric_sum(text, f"{GENERATION_COST.name}_count"),
        "attempts": metric_sum(text, PROVIDER_ATTEMPTS.name),
        "failed attempts": metric_sum(text, PROVIDER_ATTEMPTS.name, outcome=FAILED_ATTEMPT),
        "lookups": metric_sum(text, GENERATION_LOOKUPS.name),
    }
    wanted = {
        "deliveries": len(warm) + len(timed),
        "observed": total,
        "trace events": total,
        "in the cost histogram": total,
        "attempts": total * ATTEMPTS,
        "failed attempts": total,
        "lookups": 0,
    }
    log(f"drain: {sent.seconds:.2f} s, exporter CPU {cpu:.2f} s; counted {counted}")
    if counted != wanted:
        raise RuntimeError(f"the exporter counted {counted}, not {wanted}:\n{proc.output()}")
    return Measured(
        len(timed) * PER_DELIVERY,
        sent.seconds,
        cpu,
        f"httpx client {sent.client_cpu / sent.seconds:.2f} cores",
        f"{IN_FLIGHT} deliveries in flight, each answered in p50 "
        f"{sent.percentile(0.5) * 1000:.0f} ms, p99 {sent.percentile(0.99) * 1000:.0f} ms",
    )


def lookup_path(work: Path, sim: Simulator, ids: list[str]) -> Measured:
    proc, base = exporter(
        work,
        sim,
        "lookups",
        f"--lookup.concurrency={LOOKUP_CONCURRENCY}",
        "--lookup.rate=100000",
        "--lookup.initial-delay=0s",
        "--ingest.max-pending=50000000",
    )
    # Progress from the state file (a WAL reader never blocks the writer), not from /metrics:
    # frequent scrapes would add to the very CPU being measured.
    state = sqlite3.connect(f"file:{work / 'state-lookups.db'}?mode=ro", uri=True)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 30 + len(ids) / 50  # far beyond any plausible run
            before, sim_before = proc.cpu_seconds(), sim.process.cpu_seconds()
            started = time.perf_counter()
            for start in range(0, len(ids), ID_BATCH):
                batch = ids[start : start + ID_BATCH]
                client.post(routes.GENERATIONS, json={"ids": batch}).raise_for_status()
            done = 0
            while time.monotonic() < deadline:
                done = state.execute("SELECT COUNT(*) FROM resolved").fetchone()[0]
                if done >= len(ids):
                    break
                time.sleep(0.05)
            else:
                raise TimeoutError(f"exporter resolved {done} of {len(ids)}:\n{proc.output()}")
            seconds = time.perf_counter() - started
            cpu = proc.cpu_seconds() - before
            sim_cpu = sim.process.cpu_seconds() - sim_before
            text = client.get("/metrics").text
    finally:
        state.close()
        proc.stop()
    found = metric_value(text, GENERATION_LOOKUPS.name, vercel_team=TEAM, outcome="found")
    counted = metric_sum(text, f"{GENERATION_COST.name}_count")
    log(f"lookups: {seconds:.2f} s, exporter CPU {cpu:.2f} s; {found:.0f} found")
    if found != len(ids) or counted != len(ids):
        raise RuntimeError(f"{found:.0f} found and {counted:.0f} counted of {len(ids)}")
    return Measured(len(ids), seconds, cpu, f"simulator {sim_cpu / seconds:.2f} cores")


# --- the rows --------------------------------------------------------------------------------


def rows(drained: Measured, looked_up: Measured) -> list[Row]:
    shape = (
        f"signed protobuf deliveries of {PER_DELIVERY} requests (root span and "
        f"{ATTEMPTS} provider attempts each), {drained.generations:,} generations"
    )
    ratio = drained.cpu_us / looked_up.cpu_us
    return [
        Row(
            "Trace drain",
            f"generations counted per second, {shape}",
            drained.rate,
            "gen/s",
            "",
            None,
            goal=f"≥ {goals.DRAIN_RATE:,.0f} gen/s",
            met=drained.rate >= goals.DRAIN_RATE,
            note=f"{drained.note}; lookup path {looked_up.rate:,.0f} gen/s",
            load_cpu=drained.load,
        ),
        Row(
            "Trace drain",
            f"exporter CPU per generation, {shape}",
            drained.cpu_us,
            "µs",
            f"lookup path, the same generations: IDs posted {ID_BATCH:,} per request, "
            f"looked up {LOOKUP_CONCURRENCY} in flight, no added latency",
            looked_up.cpu_us,
            goal=f"≤ {goals.DRAIN_CPU}x",
            met=ratio <= goals.DRAIN_CPU,
            note="CPU time (user + system) of the exporter process ÷ generations counted",
            load_cpu=f"{drained.load} (baseline: {looked_up.load})",
        ),
    ]


def run(ctx: Context) -> list[Row]:
    work = ctx.scratch("drain")
    timed = max(10, round(GENERATIONS * ctx.scale / PER_DELIVERY)) * PER_DELIVERY
    count = timed + WARM_UP * PER_DELIVERY
    sim = Simulator(work, "--ready-delay=0")
    try:
        ids = sim.control("generations", {"count": count, "ready_after": 0}, KEY)["ids"]
        truth = httpx.get(
            f"{sim.url}/_sim/truth", headers={"Authorization": f"Bearer {KEY}"}, timeout=120
        )
        truth.raise_for_status()
        (team,) = truth.json()["teams"].values()
        by_id = {g["id"]: g for g in team["generations"]}
        log(f"drain: building {count // PER_DELIVERY} deliveries of {PER_DELIVERY} requests")
        bodies = deliveries([by_id[gen_id] for gen_id in ids])
        sent = [gen_id for body in bodies for gen_id in check(body)]
        if sent != ids:
            raise AssertionError("the deliveries do not hold the generations made")
        drained = drain_path(work, sim, bodies[:WARM_UP], bodies[WARM_UP:])
        looked_up = lookup_path(work, sim, ids[WARM_UP * PER_DELIVERY :])
    finally:
        sim.stop()
    log(
        f"drain: {drained.rate:,.0f} gen/s, {drained.cpu_us:.1f} µs CPU per generation; "
        f"lookup path: {looked_up.rate:,.0f} gen/s, {looked_up.cpu_us:.1f} µs"
    )
    return rows(drained, looked_up)
