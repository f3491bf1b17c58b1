"""kill -9 at twenty random moments under steady intake: the final totals, cache savings
included, are still exact."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from exporter import metrics
from tests.support.crashes import Resender
from tests.support.generations import (
    assert_totals_match,
    expected_savings,
    expected_totals,
    observed_savings,
    observed_totals,
    priced_catalog_args,
)
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-crash-0123456789"


class Sender(Resender):
    """An application: sends IDs in small batches and re-sends a batch until it gets a 202."""

    def __init__(self, ids: list[str], url: Callable[[], str]) -> None:
        super().__init__(url)
        self.ids = ids

    def run(self) -> None:
        rng = random.Random(9)
        for start in range(0, len(self.ids), 8):
            batch = self.ids[start : start + 8] + rng.sample(self.ids[: start + 8], 2)
            self.post_until_acknowledged("/generations", 202, json={"ids": batch})
            time.sleep(0.03)
        self.finish()


def test_twenty_kills_lose_nothing_and_count_nothing_twice(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0.5")
    ids = sim.control("generations", {"count": 600}, key=KEY)["ids"]
    args = [
        "--lookup.initial-delay=0s",
        "--lookup.rate=300",
        "--lookup.concurrency=16",
        f"--state.path={tmp_path / 'state.db'}",
        *priced_catalog_args(sim),
    ]
    env = {"AI_GATEWAY_API_KEY": KEY}
    current = [exporter_factory(sim.url, *args, env=env)]
    sender = Sender(ids, lambda: current[0].url)
    sender.start()
    rng = random.Random(20)
    for _ in range(20):
        time.sleep(rng.uniform(0.1, 1.0))
        current[0].process.kill()
        current[0] = exporter_factory(sim.url, *args, env=env)
    assert sender.done.wait(120), "the sender finished"
    exp = current[0]
    exp.wait_looked_up(len(ids), 90)
    truth = sim.team_truth(KEY)["generations"]
    assert_totals_match(expected_savings(truth), observed_savings(exp, "default"))
    assert_totals_match(expected_totals(truth), observed_totals(exp, "default"))
    accepted = exp.value(
        metrics.GENERATION_IDS_RECEIVED, vercel_team="default", intake="http", result="accepted"
    )
    assert accepted == len(ids)
