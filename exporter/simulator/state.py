"""The state every route shares: all simulated teams, the active fault, the request log and
background traffic."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exporter.simulator.catalog import SimCatalog, catalogue
from exporter.simulator.faults import Fault
from exporter.simulator.modes import Modes
from exporter.simulator.world import SimGeneration, TeamWorld, world_name_for

GenerationListener = Callable[[str, SimGeneration], None]


class Simulator:
    """All simulated teams, the active fault, the request log and background traffic."""

    def __init__(
        self,
        seed: int = 1,
        rate: float = 0.0,
        ready_delay: float = 3.0,
        balance: Decimal = Decimal("100"),
        api_keys: dict[str, str] | None = None,
        top_up_below: Decimal | None = None,
        top_up_amount: Decimal = Decimal("100"),
        latency: float = 0.0,
        plan: str = "pro",
        modes: Modes | None = None,
        models: int | None = None,
    ) -> None:
        self.seed = seed
        self.latency = latency  # seconds every documented API answer takes, before faults
        self.plan = plan  # "hobby" answers /v1/report with 403, as Hobby and Pro trial do
        self.modes = modes or Modes()  # how undocumented or account-specific cases answer
        self.rate = rate
        self.ready_delay = ready_delay
        self.initial_balance = balance
        self.top_up_below = top_up_below
        self.top_up_amount = top_up_amount
        # Prices every team pays; ``models`` adds synthetic models up to that many (stress).
        self.catalog = SimCatalog(catalogue(models), seed=seed)
        self.open = not api_keys  # without a key list, any bearer token is a team
        self.worlds: dict[str, TeamWorld] = {}
        self._names = dict(api_keys or {})  # key -> team name
        for key in self._names:
            self.world_for(key)
        self.fault: Fault | None = None
        self.requests: deque[dict[str, Any]] = deque(maxlen=100_000)
        self.listeners: list[GenerationListener] = []
        self._traffic_rng = random.Random(f"{seed}:traffic")  # noqa: S311 - simulation

    def world_for(self, key: str) -> TeamWorld:
        name = self._names.setdefault(key, world_name_for(key))
        world = self.worlds.get(name)
        if world is None:
            rng = random.Random(f"{self.seed}:{name}")  # noqa: S311 - simulation
            world = self.worlds[name] = TeamWorld(
                name=name, rng=rng, balance=self.initial_balance, catalog=self.catalog
            )
        return world

    def is_gateway_key(self, token: str) -> bool:
        """Whether a team was keyed with this token (the budgets API refuses gateway keys)."""
        return token in self._names

    def knows(self, key: str) -> bool:
        return bool(key) and (self.open or key in self._names)

    def generate(
        self, world: TeamWorld, ready_delay: float | None = None, model: str | None = None
    ) -> SimGeneration:
        delay = self.ready_delay if ready_delay is None else ready_delay
        gen = world.generate(time.time(), delay, model)
        if self.top_up_below is not None and world.balance < self.top_up_below:
            world.top_up(time.time(), self.top_up_amount)
        for listener in self.listeners:
            listener(world.name, gen)
        return gen

    async def run_traffic(self, tick: float = 0.25) -> None:
        """Poisson arrivals at ``rate`` generations per second per team, until cancelled."""
        while True:
            await asyncio.sleep(tick)
            for world in list(self.worlds.values()):
                arrivals = self._poisson(self.rate * tick)
                for _ in range(arrivals):
                    self.generate(world)

    def _poisson(self, mean: float) -> int:
        if mean <= 0:
            return 0
        count, threshold = 0, pow(2.718281828459045, -mean)
        product = self._traffic_rng.random()
        while product > threshold:
            count += 1
            product *= self._traffic_rng.random()
        return count
