"""kill -9 under steady trace drain deliveries: no delivery the exporter answered 200 for is
lost, nothing is counted twice although every cut-off delivery is sent again, and the totals
equal the simulator's truth with no lookup at all."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from exporter import metrics, routes
from tests.support.crashes import Resender, SteeredKills
from tests.support.drain import SECRET, attempt, delivery, root_of, traces
from tests.support.generations import assert_totals_match, expected_totals, observed_totals
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-drain-crash-0123456789"
TEAM = "default"
PER_DELIVERY = 10
LANDED = 8  # kills that must land while a delivery is on its way or being answered
MAX_KILLS = 60  # the bound on the kills it may take to land them


class Drain(Resender):
    """Sends each delivery until it gets a 200, as an OTLP client with retry does; once the
    generations are all delivered it sends the first delivery again (a lost answer), and
    keeps the exporter busy that way until told to stop."""

    def __init__(self, generations: Sequence[dict[str, Any]], url: Callable[[], str]) -> None:
        super().__init__(url)
        self.bodies = [
            delivery(traces([span for g in chunk for span in _trace(g)]))
            for chunk in (
                generations[i : i + PER_DELIVERY] for i in range(0, len(generations), PER_DELIVERY)
            )
        ]
        self.acknowledged = 0

    def send(self, body: bytes, headers: dict[str, str]) -> bool:
        return self.post_until_acknowledged(routes.TRACES, 200, content=body, headers=headers)

    def run(self) -> None:
        for body, headers in self.bodies:
            if self.send(body, headers):
                self.acknowledged += 1
            time.sleep(0.05)
        while not self.stop.is_set():
            self.send(*self.bodies[0])  # a redelivery: it must count nothing
            time.sleep(0.05)
        self.finish()


def counted(exp: ExporterProcess) -> float:
    """Generations in the cost histogram, over every series."""
    name = f"{metrics.GENERATION_COST.name}_count"
    return sum(value for (sample, _), value in exp.samples().items() if sample == name)


def _trace(generation: dict[str, Any]) -> list[Any]:
    span = root_of(generation)
    return [span, attempt(span, generation["provider_name"], model=generation["model"])]


def test_kills_mid_delivery_lose_no_acknowledged_generation_and_count_none_twice(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory()
    sim.control("generations", {"count": 300}, key=KEY)
    generations = sim.team_truth(KEY)["generations"]
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET)
    args = [f"--state.path={tmp_path / 'state.db'}", f"--drain.secret-file={secret}"]
    env = {"AI_GATEWAY_API_KEY": KEY}
    current = [exporter_factory(sim.url, *args, env=env)]
    drain = Drain(generations, lambda: current[0].url)
    drain.start()
    kills = SteeredKills(drain, LANDED, MAX_KILLS, random.Random(7), into=0.004)
    for _ in kills:
        current[0].process.kill()
        acknowledged = drain.acknowledged  # the dead process can answer no more
        current[0] = exporter_factory(sim.url, *args, env=env)
        # The restarted exporter holds every generation of the deliveries acknowledged before.
        assert counted(current[0]) >= acknowledged * PER_DELIVERY
    drain.stop.set()
    assert drain.done.wait(120), "the drain finished"
    assert drain.gave_up == 0
    assert drain.acknowledged == len(drain.bodies)
    assert drain.cut_off >= LANDED, f"{kills.count} kills, {drain.cut_off} during a delivery"

    exp = current[0]
    assert_totals_match(expected_totals(generations, drained=True), observed_totals(exp, TEAM))
    lookups = exp.series(metrics.GENERATION_LOOKUPS)
    assert sum(value for _, value in lookups) == 0, "a drained generation was looked up"
    attempts = exp.series(metrics.PROVIDER_ATTEMPTS)
    assert sum(value for _, value in attempts) == len(generations)
