"""AI Gateway's trace drain end to end, real processes over real sockets: the same generations
counted from drain spans and from lookups give identical histograms, bucket for bucket; hostile
deliveries are refused clearly and leave an exposition promtool finds nothing in."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from exporter import metrics, routes
from tests.integration.test_prometheus import promtool_check_metrics
from tests.support.drain import (
    SECRET,
    attempt,
    delivery,
    new_id,
    root,
    root_of,
    traces,
)
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-drain-e2e-0123456789"
TEAM = "default"
Start = Callable[..., ExporterProcess]

# Families both paths define the same way (web search calls are in records only).
SHARED = (
    metrics.GENERATION_COST,
    metrics.GENERATION_TIME_TO_FIRST_TOKEN,
    metrics.GENERATION_DURATION,
    metrics.GENERATION_TOKENS,
    metrics.GENERATION_REQUESTS,
    metrics.GENERATION_BYOK_COST,
    metrics.GENERATION_CACHE_SAVINGS,
    metrics.GENERATION_CACHE_SAVINGS_UNKNOWN,
)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def generation_samples(exp: ExporterProcess) -> Samples:
    """The shared families' samples, summed over ``operation``: a lookup takes it from the
    catalog, which does not list every model (the simulator's private one is ``unknown``)."""
    names = {name for family in SHARED for name in family.series_names}
    out: Samples = {}
    for (name, labels), value in exp.samples().items():
        if name in names:
            key = (name, tuple(pair for pair in labels if pair[0] != "operation"))
            out[key] = out.get(key, 0.0) + value
    return out


def operations(exp: ExporterProcess) -> set[tuple[str, str]]:
    return {
        (labels["model"], labels["operation"])
        for labels, _ in exp.series(metrics.GENERATION_REQUESTS)
    }


def post(exp: ExporterProcess, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{exp.url}{routes.TRACES}", content=body, headers=headers, timeout=30)


def test_drain_spans_and_lookups_give_the_same_histograms(
    tmp_path: Path, simulator: SimulatorProcess, exporter_factory: Start
) -> None:
    simulator.control("generations", {"count": 200}, key=KEY)
    generations = simulator.team_truth(KEY)["generations"]
    env = {"AI_GATEWAY_API_KEY": KEY}
    looked_up = exporter_factory(simulator.url, "--lookup.initial-delay=0s", env=env)
    ids = [g["id"] for g in generations]
    assert httpx.post(f"{looked_up.url}{routes.GENERATIONS}", json={"ids": ids}).status_code == 202
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET)
    drained = exporter_factory(simulator.url, f"--drain.secret-file={secret}", env=env)
    for start in range(0, len(generations), 50):
        spans = [root_of(g) for g in generations[start : start + 50]]
        body, headers = delivery(traces(spans), "json" if start % 100 else "protobuf")
        assert post(drained, body, headers).status_code == 200

    wait_until(
        lambda: (
            looked_up.value(metrics.GENERATION_LOOKUPS, vercel_team=TEAM, outcome="found")
            == len(ids)
        ),
        60,
        what="every ID looked up",
    )
    wait_until(  # the catalog's first read prices the drained generations' cache savings too
        lambda: generation_samples(drained) == generation_samples(looked_up),
        30,
        what="the drain's histograms equal the lookups'",
    )
    assert all(value == 0 for _, value in drained.series(metrics.GENERATION_LOOKUPS))
    assert {operation for _, operation in operations(drained)} == {"chat"}
    unlisted = {model for model, operation in operations(looked_up) if operation == "unknown"}
    assert unlisted == {"acme/support-tuned-8b"}, "only the model the catalog does not list"


def test_hostile_deliveries_are_answered_clearly_and_the_exposition_stays_valid(
    tmp_path: Path, simulator: SimulatorProcess, exporter_factory: Start
) -> None:
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET)
    exp = exporter_factory(
        simulator.url, f"--drain.secret-file={secret}", env={"AI_GATEWAY_API_KEY": KEY}
    )

    def fresh() -> str:
        return new_id(time.time() - 30)  # the exporter's clock is the real one

    good = root(fresh())
    body, headers = delivery(traces([good, attempt(good, "anthropic")]))
    assert post(exp, body, headers).status_code == 200
    assert post(exp, body, headers).status_code == 200  # replayed: counts nothing

    tampered = body.replace(b"0.0042", b"9.0042")
    assert post(exp, tampered, headers).status_code == 403
    for signature in ("", "abc", headers["x-vercel-signature"].upper(), "f" * 40):
        forged = {**headers, "x-vercel-signature": signature}
        resp = post(exp, body, forged)
        assert resp.status_code == 403 and "signature" in resp.json()["error"]

    hostile = [root(fresh(), cost) for cost in ("NaN", "-1", "1e999", "", "Infinity", "0x10")] + [
        root(None),
        root(fresh(), attrs={"gen_ai.usage.input_tokens": -1}),
        root(fresh(), attrs={"gen_ai.usage.output_tokens": 2**63 - 1}),
        root(fresh(), model="m\nodel\u2028with\ud7ffodd characters" * 20),
        root(fresh(), failed='<script>"x"</script>'),
    ]
    body, headers = delivery(traces(hostile))
    assert post(exp, body, headers).status_code == 200

    many = [root(fresh()) for _ in range(2500)]
    spans = [s for r in many for s in (r, attempt(r, "anthropic"), attempt(r, "bedrock"))]
    spans += [attempt(many[0], "vertex")]  # 7,501 spans in one delivery
    body, headers = delivery(traces(spans), compress=True)
    assert post(exp, body, headers).status_code == 200

    too_many = traces([root(fresh()) for _ in range(10_001)])
    body, headers = delivery(too_many, compress=True)
    resp = post(exp, body, headers)
    assert resp.status_code == 413, resp.text

    exposition = httpx.get(f"{exp.url}/metrics").content
    checked = promtool_check_metrics(exposition)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert exp.value(metrics.DRAIN_DELIVERIES, vercel_team=TEAM, result="replayed") == 1
    assert (
        exp.value(metrics.INTAKE_REQUESTS_REFUSED, path=routes.TRACES, reason="signature_mismatch")
        == 2
    )
    assert (
        exp.value(metrics.INTAKE_REQUESTS_REFUSED, path=routes.TRACES, reason="signature_malformed")
        == 3
    )
    assert exp.value(metrics.INTAKE_REQUESTS_REFUSED, path=routes.TRACES, reason="too_large") == 1
    counted = sum(v for _, v in exp.series(metrics.GENERATION_REQUESTS))
    assert counted == 1 + 2 + 1 + 2500  # the good one, two bad token counts, the odd model
    assert sum(v for _, v in exp.series(metrics.REQUESTS_FAILED)) == 1
    page = httpx.get(f"{exp.url}/").text
    assert "<script>" not in page


def test_the_simulators_own_drain_and_lookups_give_the_same_histograms(
    tmp_path: Path, simulator: SimulatorProcess, exporter_factory: Start
) -> None:
    """The simulator's drain, over a real socket, as AI Gateway's sends: JSON as Vercel spells
    it, zero token counts left out, embeddings, failures with their attempts, fallbacks; and
    one delivery sent again. What it drains equals what lookups count of the same traffic."""
    env = {"AI_GATEWAY_API_KEY": KEY}
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET)
    drained = exporter_factory(simulator.url, f"--drain.secret-file={secret}", env=env)
    looked_up = exporter_factory(simulator.url, "--lookup.initial-delay=0s", env=env)
    started = simulator.control(
        "drain", {"url": f"{drained.url}{routes.TRACES}", "secret": SECRET, "interval": 0.2}
    )
    assert len(started["drains"]) == 1
    ids = simulator.control("generations", {"count": 120}, key=KEY)["ids"]
    ids += simulator.control("generations", {"count": 20, "kind": "embeddings"}, key=KEY)["ids"]
    failed = simulator.control("generations", {"count": 10, "kind": "failed"}, key=KEY)["ids"]
    assert httpx.post(f"{looked_up.url}{routes.GENERATIONS}", json={"ids": ids}).status_code == 202

    def sent() -> int:
        (counts,) = httpx.get(f"{simulator.url}/_sim/drain", timeout=10).json()["drains"]
        return int(counts["traces"])

    wait_until(lambda: sent() == len(ids) + len(failed), 30, what="every trace delivered")
    assert simulator.control("drain/redeliver")["redelivered"] == 1
    wait_until(
        lambda: drained.value(metrics.DRAIN_DELIVERIES, vercel_team=TEAM, result="replayed") == 1,
        30,
        what="the delivery sent again",
    )
    wait_until(
        lambda: (
            looked_up.value(metrics.GENERATION_LOOKUPS, vercel_team=TEAM, outcome="found")
            == len(ids)
        ),
        60,
        what="every ID looked up",
    )
    wait_until(
        lambda: generation_samples(drained) == generation_samples(looked_up),
        30,
        what="the drain's histograms equal the lookups'",
    )
    truth = simulator.team_truth(KEY)
    assert sum(v for _, v in drained.series(metrics.REQUESTS_FAILED)) == len(failed)
    attempts = [a for r in truth["generations"] + truth["failures"] for a in r["attempts"]]
    assert sum(v for _, v in drained.series(metrics.PROVIDER_ATTEMPTS)) == len(attempts)
    fallbacks = sum(len(g["fallbacks"]) for g in truth["generations"])
    assert sum(v for _, v in drained.series(metrics.MODEL_FALLBACKS)) == fallbacks
    assert all(value == 0 for _, value in drained.series(metrics.GENERATION_LOOKUPS))
    embeddings = {m for m, op in operations(drained) if op == "embeddings"}
    assert embeddings and embeddings == {m for m, op in operations(looked_up) if op == "embeddings"}
