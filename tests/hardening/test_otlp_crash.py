"""kill -9 at random moments under steady OTLP trace intake: no ID the exporter answered
200 for is lost, and the final totals equal the simulator's truth, each generation once."""

from __future__ import annotations

import gzip
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from exporter import metrics, routes
from tests.support.crashes import Resender, SteeredKills
from tests.support.generations import assert_totals_match, expected_totals, observed_totals
from tests.support.otlp import do_generate, request, span
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-otlp-crash-0123456789"
TEAM = "default"
FRESH_PER_BATCH = 10
LANDED = 10  # kills that must cut off a request in flight
MAX_KILLS = 60  # the bound on the kills it may take


class Sender(Resender):
    """An OTLP exporter (a Collector, an SDK): sends span batches and re-sends each one until
    it gets a 200. Each batch holds fresh IDs while there are any, a few already acknowledged
    ones (a trace often repeats an ID) and spans without one; once the fresh IDs are all sent
    it keeps the intake busy with repeats until told to stop."""

    def __init__(self, ids: list[str], url: Callable[[], str]) -> None:
        super().__init__(url)
        self.ids = ids
        self.lock = threading.Lock()
        self.acknowledged: set[str] = set()

    def body(self, batch: list[str], rng: random.Random) -> tuple[bytes, dict[str, str]]:
        spans = [do_generate(gen_id) for gen_id in batch]
        spans += [span("http.request", {"http.route": f"/api/chat/{n}"}) for n in range(20)]
        rng.shuffle(spans)
        payload = request(spans).SerializeToString()
        headers = {"Content-Type": "application/x-protobuf"}
        if rng.random() < 0.5:
            payload = gzip.compress(payload)
            headers["Content-Encoding"] = "gzip"
        return payload, headers

    def send(self, batch: list[str], rng: random.Random) -> None:
        payload, headers = self.body(batch, rng)
        if self.post_until_acknowledged(routes.TRACES, 200, content=payload, headers=headers):
            with self.lock:
                self.acknowledged.update(batch)

    def run(self) -> None:
        rng = random.Random(11)
        sent = 0
        while sent < len(self.ids) or not self.stop.is_set():
            fresh = self.ids[sent : sent + FRESH_PER_BATCH]
            sent += len(fresh)
            repeats = rng.sample(self.ids[:sent], min(3, sent)) if sent else []
            self.send(fresh + repeats, rng)
            time.sleep(0.08)  # fresh IDs through most of the kills
        self.finish()

    def acknowledged_count(self) -> int:
        with self.lock:
            return len(self.acknowledged)


def accepted(exp: ExporterProcess) -> float:
    value = exp.value(
        metrics.GENERATION_IDS_RECEIVED, vercel_team=TEAM, intake="otlp", result="accepted"
    )
    return value or 0.0


def test_kills_mid_otlp_intake_lose_no_acknowledged_id(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0.5")
    ids = sim.control("generations", {"count": 1000}, key=KEY)["ids"]
    args = [
        "--lookup.initial-delay=0s",
        "--lookup.rate=300",
        "--lookup.concurrency=16",
        f"--state.path={tmp_path / 'state.db'}",
    ]
    env = {"AI_GATEWAY_API_KEY": KEY}
    current = [exporter_factory(sim.url, *args, env=env)]
    sender = Sender(ids, lambda: current[0].url)
    sender.start()
    rng = random.Random(21)
    # Mostly in the middle of a request: reading it, storing its IDs or answering.
    kills = SteeredKills(sender, LANDED, MAX_KILLS, rng, into=0.006)
    for _ in kills:
        current[0].process.kill()
        acknowledged = sender.acknowledged_count()  # the dead process can answer no more
        current[0] = exporter_factory(sim.url, *args, env=env)
        # The restarted exporter already holds every ID the killed one acknowledged.
        assert accepted(current[0]) >= acknowledged
        time.sleep(rng.uniform(0.05, 0.5))
    sender.stop.set()
    assert sender.done.wait(120), "the sender finished"
    assert sender.gave_up == 0
    assert sender.acknowledged == set(ids)
    assert sender.cut_off >= LANDED, f"{kills.count} kills, {sender.cut_off} during a request"

    exp = current[0]
    exp.wait_looked_up(len(ids), 120, TEAM)
    assert_totals_match(
        expected_totals(sim.team_truth(KEY)["generations"]), observed_totals(exp, TEAM)
    )
    assert accepted(exp) == len(ids)
