"""The simulator's own API (``/_sim/...``), which no real gateway has.

Tests and the demo use it to create traffic, move the balance, inject faults, switch the plan
and the modes of undocumented cases, and read ground truth. A call addresses one team by its
bearer token, or every team without.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exporter.simulator.catalog import TOKEN_TYPES
from exporter.simulator.drain import DrainSender
from exporter.simulator.faults import Fault
from exporter.simulator.reporting import PLANS
from exporter.simulator.responses import bearer_token, json_response
from exporter.simulator.state import Simulator
from exporter.simulator.world import TeamWorld


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, or {} for anything else, so each route reports what it missed."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _set_balance(world: TeamWorld, balance: Decimal) -> None:
    world.balance = balance


def _top_up(world: TeamWorld, amount: Decimal) -> None:
    world.top_up(time.time(), amount)


class ControlRoutes:
    """The control endpoints, acting on one simulator's teams, fault and plan."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/_sim/truth", self.truth),
            Route("/_sim/requests", self.requests),
            Route("/_sim/credits", self.credits, methods=["POST"]),
            Route("/_sim/topup", self.topup, methods=["POST"]),
            Route("/_sim/generations", self.generations, methods=["POST"]),
            Route("/_sim/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sim/plan", self.plan, methods=["GET", "POST"]),
            Route("/_sim/modes", self.modes, methods=["GET", "POST"]),
            Route("/_sim/prices", self.prices, methods=["GET", "POST"]),
            Route("/_sim/drain", self.drain, methods=["GET", "POST"]),
            Route("/_sim/drain/redeliver", self.redeliver, methods=["POST"]),
        ]

    def _worlds(self, request: Request) -> list[TeamWorld]:
        """The bearer token's team (made on first use), else every team (a "demo" one if none)."""
        token = bearer_token(request)
        if token:
            return [self.sim.world_for(token)]
        return list(self.sim.worlds.values()) or [self.sim.world_for("demo")]

    async def truth(self, request: Request) -> Response:
        return json_response(
            {
                "teams": {w.name: w.truth() for w in self._worlds(request)},
                "catalog": self.sim.catalog.truth(),
            }
        )

    async def requests(self, request: Request) -> Response:
        """Every recorded gateway call, for tests to check what the exporter asked."""
        return json_response({"requests": list(self.sim.requests)})

    async def credits(self, request: Request) -> Response:
        """Sets the balance outright."""
        return await self._apply_money(request, "balance", _set_balance)

    async def topup(self, request: Request) -> Response:
        """Adds credit as a purchase would: the balance grows and the top-up is in the truth."""
        return await self._apply_money(request, "amount", _top_up)

    async def _apply_money(
        self, request: Request, key: str, apply: Callable[[TeamWorld, Decimal], None]
    ) -> Response:
        """Apply the body's decimal ``key`` to every team addressed, or 400 without one."""
        body = await _body(request)
        try:
            value = Decimal(str(body[key]))
        except (KeyError, TypeError, InvalidOperation):
            return json_response({"error": f'expected {{"{key}": "<decimal>"}}'}, 400)
        for world in self._worlds(request):
            apply(world, value)
        return json_response({"ok": True})

    async def generations(self, request: Request) -> Response:
        body = await _body(request)
        count = body.get("count", 1)
        ready_after = body.get("ready_after")
        if not isinstance(count, int) or not 0 < count <= 100_000:
            return json_response({"error": "count must be an integer from 1 to 100000"}, 400)
        if ready_after is not None and not isinstance(ready_after, (int, float)):
            return json_response({"error": "ready_after must be a number of seconds"}, 400)
        kind = body.get("kind", "chat")
        if kind not in ("chat", "embeddings", "failed"):
            return json_response({"error": "kind must be chat, embeddings or failed"}, 400)
        ids = []
        for world in self._worlds(request):
            for _ in range(count):
                if kind == "chat":
                    ids.append(self.sim.generate(world, ready_after, body.get("model")).id)
                elif kind == "embeddings":
                    ids.append(self.sim.embed(world, ready_after).id)
                else:
                    ids.append(self.sim.fail(world).id)
        return json_response({"ids": ids})

    async def drain(self, request: Request) -> Response:
        """POST starts a trace drain to ``url`` (every request of every team from then on),
        signed with ``secret``; GET shows what each drain sent."""
        if request.method == "POST":
            body = await _body(request)
            try:
                sender = DrainSender(
                    url=str(body["url"]),
                    secret=str(body["secret"]),
                    fmt=body.get("format", "json"),
                    compress=bool(body.get("gzip", False)),
                    interval=float(body.get("interval", 1.0)),
                    batch=int(body.get("batch", 100)),
                    sample_rate=float(body.get("sample_rate", 1.0)),
                )
            except (KeyError, TypeError, ValueError):
                return json_response(
                    {"error": 'expected {"url": …, "secret": …} (format, gzip, interval, …)'},
                    400,
                )
            if sender.fmt not in ("json", "protobuf") or not 0 <= sender.sample_rate <= 1:
                return json_response({"error": "format json or protobuf, sample_rate 0-1"}, 400)
            self.sim.start_drain(sender)
        return json_response({"drains": [d.counts.truth() for d in self.sim.drains]})

    async def redeliver(self, request: Request) -> Response:
        """Every drain sends its last delivery again, as after an answer that was lost."""
        again = [d.redeliver() for d in self.sim.drains]
        return json_response({"redelivered": sum(again)})

    async def faults(self, request: Request) -> Response:
        """GET shows the active fault, POST replaces it, DELETE clears it."""
        if request.method == "DELETE":
            self.sim.fault = None
            return json_response({"fault": None})
        if request.method == "POST":
            try:
                self.sim.fault = Fault.from_json(await _body(request))
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response({"fault": self.sim.fault.describe() if self.sim.fault else None})

    async def modes(self, request: Request) -> Response:
        """GET shows the modes (modes.py), POST sets some: ``{"foreign_generations":
        "forbidden"}``."""
        if request.method == "POST":
            try:
                self.sim.modes = self.sim.modes.updated(await _body(request))
            except ValueError as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response({"modes": self.sim.modes.describe()})

    async def plan(self, request: Request) -> Response:
        """GET shows the plan, POST switches it ("hobby" makes /v1/report answer 403)."""
        if request.method == "POST":
            plan = (await _body(request)).get("plan")
            if plan not in PLANS:
                return json_response({"error": f"plan must be one of {', '.join(PLANS)}"}, 400)
            self.sim.plan = plan
        return json_response({"plan": self.sim.plan})

    async def prices(self, request: Request) -> Response:
        """GET shows the catalog's prices; POST changes a model's list prices from now on:
        ``{"model": id, "input": "<USD per token>", ...}`` with any of the token types."""
        catalog = self.sim.catalog
        if request.method == "POST":
            body = await _body(request)
            given = {t: body[t] for t in TOKEN_TYPES if t in body}
            try:
                prices = {t: Decimal(str(v)) for t, v in given.items()}
            except InvalidOperation:
                prices = {}
            if not prices or any(not p.is_finite() or p < 0 for p in prices.values()):
                return json_response(
                    {"error": f"expected decimal prices of any of {', '.join(TOKEN_TYPES)}"}, 400
                )
            model = body.get("model")
            if catalog.spec(model if isinstance(model, str) else None) is None:
                return json_response({"error": f"no model {model!r} in the catalog"}, 400)
            catalog.set_prices(str(model), prices, time.time())
        return json_response(catalog.truth())
