"""Generation IDs end to end over real sockets: intake paths, exact totals and cache savings,
kill -9, 429 storm."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import httpx

from exporter import metrics
from exporter.metrics import Area
from tests.support.generations import (
    assert_totals_match,
    expected_savings,
    expected_totals,
    observed_savings,
    observed_totals,
    priced_catalog_args,
)
from tests.support.ids import live_id
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-e2e-generations-0123456789"
StartExporter = Callable[..., ExporterProcess]
LOOKUPS, RECEIVED, QUEUE = (
    metrics.GENERATION_LOOKUPS,
    metrics.GENERATION_IDS_RECEIVED,
    metrics.GENERATION_QUEUE_LENGTH,
)
# Every sample that must never go down: the generation counters and histogram parts.
MONOTONIC = {
    name
    for family in metrics.FAMILIES
    if family.area in (Area.GENERATIONS, Area.PIPELINE) and family.type is not metrics.Type.GAUGE
    for name in family.series_names
}


def post_json(exp: ExporterProcess, body: object) -> httpx.Response:
    return httpx.post(f"{exp.url}/generations", json=body, timeout=30)


def post_text(exp: ExporterProcess, lines: list[str]) -> httpx.Response:
    return httpx.post(
        f"{exp.url}/generations",
        content="\n".join(lines).encode(),
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )


def counters(exp: ExporterProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample that must never go down: generation counters and histogram parts."""
    return {k: v for k, v in exp.samples().items() if k[0] in MONOTONIC}


def test_a_thousand_ids_through_every_path_with_a_kill_are_counted_exactly(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: StartExporter,
) -> None:
    sim = simulator_factory("--ready-delay=1")
    ids = sim.control("generations", {"count": 950}, key=KEY)["ids"]
    # Records that appear late: 404s first, then found on a retry. Retries come about 32 and 64 s
    # after arrival (the backoff doubles from 1 s, ±10 % each), 404s are retried so only within
    # 120 s. Ready 30 s after creation, one is found at the latest by the retry at 58-70 s; ready
    # at 60 s, that retry could come just before it, and the next waits for the max age.
    ids += sim.control("generations", {"count": 50, "ready_after": 30}, key=KEY)["ids"]
    random.Random(4).shuffle(ids)
    log = tmp_path / "app.log"
    log.write_text("")
    args = [
        "--lookup.initial-delay=1s",
        "--lookup.rate=500",
        "--lookup.concurrency=16",
        f"--state.path={tmp_path / 'state.db'}",
        f"--ingest.follow={log}",
        *priced_catalog_args(sim),
    ]
    env = {"AI_GATEWAY_API_KEY": KEY}
    exp = exporter_factory(sim.url, *args, env=env)
    invalid = ["gen_bogus", "gen_01ARZ3NDEKTSV4RRFFQ69G5FAU", ""]

    def submit(part: list[str]) -> None:
        http_json, text, logged = part[: len(part) // 2], part[len(part) // 2 :], []
        text, logged = text[: len(text) // 2], text[len(text) // 2 :]
        for start in range(0, len(http_json), 100):
            batch = http_json[start : start + 100]
            resp = post_json(exp, {"ids": batch + batch[:3] + invalid[:2]})
            assert resp.status_code == 202, resp.text
            assert resp.json()["duplicates"] >= 3 and len(resp.json()["rejected"]) == 2
        resp = post_text(exp, [*text, *invalid[:1], *text[:5]])
        assert resp.status_code == 202, resp.text
        with log.open("a") as f:
            for gen_id in logged:
                f.write(
                    json.dumps({"level": "info", "msg": "chat done", "generation": gen_id}) + "\n"
                )

    submit(ids[:500])
    wait_until(
        lambda: (exp.value(LOOKUPS, vercel_team="default", outcome="found") or 0) > 100,
        30,
        what="some lookups",
    )
    before = counters(exp)
    exp.process.kill()  # kill -9 mid-run, lookups in flight

    exp = exporter_factory(sim.url, *args, env=env)
    after = counters(exp)
    went_down = {k: (before[k], after.get(k)) for k in before if after.get(k, 0) < before[k]}
    assert not went_down, f"counters went down across the restart: {went_down}"

    submit(ids[500:])
    assert post_json(exp, {"ids": ids[:50]}).json()["duplicates"] == 50, "already known"
    exp.wait_looked_up(1000, 180)  # 50 of them appear only after 30 s

    truth = sim.team_truth(KEY)["generations"]
    # Cache savings at the simulator's own prices (provider prices and tiers included), and
    # the generations of the model the catalog does not list as unknown: exact, kill or not.
    savings = expected_savings(truth)
    assert {kind for kind, *_ in savings} == {"savings", "unknown"}
    assert_totals_match(savings, observed_savings(exp, "default"))
    assert_totals_match(expected_totals(truth), observed_totals(exp, "default"))
    assert (
        exp.value(RECEIVED, vercel_team="default", intake="follow", result="accepted") is not None
    )
    accepted = sum(
        exp.value(RECEIVED, vercel_team="default", intake=intake, result="accepted") or 0
        for intake in ("http", "follow")
    )
    assert accepted == 1000
    assert (
        exp.value(metrics.GENERATION_IDS_ABANDONED, vercel_team="default", reason="not_found") == 0
    )


def test_no_lookup_is_sent_before_retry_after_during_a_429_storm(
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: StartExporter,
) -> None:
    sim = simulator_factory("--ready-delay=0")
    ids = sim.control("generations", {"count": 60}, key=KEY)["ids"]
    concurrency = 8
    exp = exporter_factory(
        sim.url,
        "--lookup.initial-delay=0s",
        "--lookup.rate=200",
        f"--lookup.concurrency={concurrency}",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    sim.fault("rate_limit", endpoints=["generation"], retry_after=2, count=12)
    assert post_json(exp, {"ids": ids}).status_code == 202
    exp.wait_looked_up(60, 60)

    lookups = [r for r in sim.requests() if r["endpoint"] == "generation"]
    limited = [r for r in lookups if r["status"] == 429]
    assert len(limited) == 12
    for answer in limited:
        # Only the lookups already in flight when the 429 went out may start inside its
        # Retry-After (on a busy machine the simulator sees them tens of ms late); a lookup
        # sent after it would make one more than the others in flight.
        inside = [r for r in lookups if answer["at"] < r["started"] < answer["at"] + 2 - 0.05]
        assert len(inside) < concurrency, f"{len(inside)} lookups inside Retry-After of {answer}"
    assert (exp.value(LOOKUPS, vercel_team="default", outcome="rate_limited") or 0) >= 1


def test_log_follower_survives_rotation_truncation_and_restart(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: StartExporter,
) -> None:
    sim = simulator_factory("--ready-delay=0")
    ids = sim.control("generations", {"count": 30}, key=KEY)["ids"]
    log = tmp_path / "app.log"
    args = [
        "--lookup.initial-delay=0s",
        f"--state.path={tmp_path / 'state.db'}",
        f"--ingest.follow={log}",
    ]
    env = {"AI_GATEWAY_API_KEY": KEY}

    def append(path: Path, part: list[str]) -> None:
        with path.open("a") as f:
            for gen_id in part:
                f.write(f"2026-11-28T10:00:00Z INFO request done id={gen_id} model=x\n")

    def received(exp: ExporterProcess, count: int) -> None:
        wait_until(
            lambda: (
                exp.value(RECEIVED, vercel_team="default", intake="follow", result="accepted")
                == count
            ),
            15,
            what=f"{count} IDs from the log",
        )

    append(log, ids[:10])
    exp = exporter_factory(sim.url, *args, env=env)
    received(exp, 10)
    log.rename(tmp_path / "app.log.1")  # rotation: the old file still gets a last write
    append(tmp_path / "app.log.1", ids[10:15])
    append(log, ids[15:20])
    received(exp, 20)
    log.write_text("")  # copytruncate: shorter than what was read
    append(log, ids[20:22])
    received(exp, 22)
    assert exp.stop() == 0
    append(log, ids[22:26])  # written while the exporter is down
    exp = exporter_factory(sim.url, *args, env=env)
    received(exp, 26)
    exp.process.kill()
    append(log, ids[26:30])
    exp = exporter_factory(sim.url, *args, env=env)
    received(exp, 30)
    exp.wait_looked_up(30, 30)
    assert (
        exp.value(RECEIVED, vercel_team="default", intake="follow", result="duplicate") is None
    ), "no line read twice"


def test_intake_refusals_are_clear(
    tmp_path: Path,
    simulator: SimulatorProcess,
    exporter_factory: StartExporter,
) -> None:
    token = tmp_path / "token"
    token.write_text("intake-token-0123456789\n")
    config = {"teams": [{"name": "prod", "api_key_env": "K"}, {"name": "dev", "api_key_env": "K"}]}
    exp = exporter_factory(
        simulator.url,
        f"--ingest.token-file={token}",
        "--ingest.max-ids=5",
        "--ingest.max-pending=6",
        "--ingest.max-body-bytes=2048",
        config=config,
        env={"K": KEY},
    )
    good = {"Authorization": "Bearer intake-token-0123456789"}
    gen = live_id()[:-1]  # and a last character

    def post(
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> httpx.Response:
        auth = good if headers is None else headers
        return httpx.post(
            f"{exp.url}/generations{query}",
            content=body,
            timeout=10,
            headers={"Content-Type": content_type, **auth},
        )

    resp = post(b'{"id": "x"}', headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401 and resp.json() == {"error": "missing or wrong bearer token"}
    assert post(b'{"id": "x"}', headers={}).status_code == 401
    resp = post(b"{not json")
    assert resp.status_code == 400 and resp.json()["error"].startswith("body is not valid JSON")
    assert post(b"<ids/>", "application/xml").status_code == 415
    resp = post(json.dumps({"ids": [gen + str(i) for i in range(6)], "team": "prod"}).encode())
    assert resp.status_code == 413 and "too many IDs" in resp.json()["error"]
    assert post(b"x" * 4096, "text/plain").status_code == 413
    resp = post(json.dumps({"id": gen + "0", "team": "qa"}).encode())
    assert resp.status_code == 400
    assert resp.json() == {"error": "unknown team 'qa' (configured: prod, dev)"}
    resp = post(json.dumps({"id": gen + "0"}).encode())
    assert resp.status_code == 400 and "several teams" in resp.json()["error"]
    resp = post(json.dumps({"ids": [gen + str(i) for i in range(5)], "team": "prod"}).encode())
    assert resp.status_code == 202 and resp.json() == {
        "accepted": 5,
        "duplicates": 0,
        "rejected": [],
    }
    resp = post(
        "\n".join(gen + str(i) for i in range(5, 7)).encode(), "text/plain", query="?team=prod"
    )
    assert resp.status_code == 503 and resp.headers["retry-after"] == "30"
    assert "queue of team prod is full" in resp.json()["error"]
    assert exp.value(QUEUE, vercel_team="prod") == 5
