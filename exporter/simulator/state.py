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
from exporter.simulator.drain import DrainSender
from exporter.simulator.faults import Fault
from exporter.simulator.modes import Modes
from exporter.simulator.world import SimFailure, SimGeneration, TeamWorld, world_name_for

GenerationListener = Callable[[str, SimGeneration], None]
# Told of every request the gateway serves, failed ones too (a trace drain's view).
RequestListener = Callable[[str, SimGeneration | SimFailure], None]


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
        embedding_share: float = 0.0,
        failure_share: float = 0.0,
        web_search_share: float = 0.05,
    ) -> None:
        self.seed = seed
        self.web_search_share = web_search_share  # of every team's chat generations
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
        self.request_listeners: list[RequestListener] = []
        # Shares of the background traffic that are embeddings, and failed requests.
        self.embedding_share = embedding_share
        self.failure_share = failure_share
        self.drains: list[DrainSender] = []  # trace drains started by the control API
        self.drain_tasks: list[asyncio.Task[None]] = []
        self._traffic_rng = random.Random(f"{seed}:traffic")  # noqa: S311 - simulation

    def world_for(self, key: str) -> TeamWorld:
        name = self._names.setdefault(key, world_name_for(key))
        world = self.worlds.get(name)
        if world is None:
            rng = random.Random(f"{self.seed}:{name}")  # noqa: S311 - simulation
            world = self.worlds[name] = TeamWorld(
                name=name,
                rng=rng,
                balance=self.initial_balance,
                catalog=self.catalog,
                web_search_share=self.web_search_share,
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
        self._served(world, gen)
        return gen

    def embed(self, world: TeamWorld, ready_delay: float | None = None) -> SimGeneration:
        """One embedding request, with a record like any generation."""
        gen = world.embed(time.time(), self.ready_delay if ready_delay is None else ready_delay)
        self._served(world, gen)
        return gen

    def fail(self, world: TeamWorld) -> SimFailure:
        """One request the gateway answers with an error: no record, no cost."""
        failure = world.fail(time.time())
        for listener in self.request_listeners:
            listener(world.name, failure)
        return failure

    def _served(self, world: TeamWorld, gen: SimGeneration) -> None:
        if self.top_up_below is not None and world.balance < self.top_up_below:
            world.top_up(time.time(), self.top_up_amount)
        for listener in self.listeners:
            listener(world.name, gen)
        for request_listener in self.request_listeners:
            request_listener(world.name, gen)

    def start_drain(self, sender: DrainSender) -> None:
        """Send every request from now on to a trace drain endpoint (on this event loop)."""
        self.drains.append(sender)
        self.request_listeners.append(sender.take)
        self.drain_tasks.append(asyncio.create_task(sender.run()))

    async def run_traffic(self, tick: float = 0.25) -> None:
        """Poisson arrivals at ``rate`` generations per second per team, until cancelled."""
        while True:
            await asyncio.sleep(tick)
            for world in list(self.worlds.values()):
                arrivals = self._poisson(self.rate * tick)
                for _ in range(arrivals):
                    self._arrive(world)

    def _arrive(self, world: TeamWorld) -> None:
        """One request of the background traffic: a chat generation, or at their shares an
        embedding or a failed request (drawn apart, so a seed's chat traffic stays put)."""
        if not (self.embedding_share or self.failure_share):
            self.generate(world)
            return
        draw = world.routing.random()
        if draw < self.failure_share:
            self.fail(world)
        elif draw < self.failure_share + self.embedding_share:
            self.embed(world)
        else:
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
