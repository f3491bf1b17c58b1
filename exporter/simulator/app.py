"""The fake gateway's HTTP API: the documented endpoints, fault injection, and a control API.

Documented routes (``/v1/...``) behave as the reference describes: bearer auth, string
decimals on ``/v1/credits``, 404 with the flat envelope until a generation's record is ready.
Control routes (``/_sim/...``) let tests and the demo create traffic, move the balance, inject
faults and read ground truth; they address one team by its bearer token, or every team without.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from exporter.gateway.models import is_generation_id
from exporter.simulator.faults import BODY_FAULTS, Fault, degrade
from exporter.simulator.reporting import PLANS, answer_budgets, answer_report
from exporter.simulator.world import CATALOGUE, SimGeneration, TeamWorld, world_name_for

GenerationListener = Callable[[str, SimGeneration], None]


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # At most 8 decimals and well under 15 significant digits: the float's shortest
        # repr is the same decimal, so clients parsing with Decimal get it back exactly.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=_json_default),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _nested_error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> Response:
    return _json({"error": {"message": message, "type": kind}}, status, headers)


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
    ) -> None:
        self.seed = seed
        self.latency = latency  # seconds every documented API answer takes, before faults
        self.plan = plan  # "hobby" answers /v1/report with 403, as Hobby and Pro trial do
        self.rate = rate
        self.ready_delay = ready_delay
        self.initial_balance = balance
        self.top_up_below = top_up_below
        self.top_up_amount = top_up_amount
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
            world = self.worlds[name] = TeamWorld(name=name, rng=rng, balance=self.initial_balance)
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


class _CutOff(Response):
    """Starts a 200 answer, then fails mid-body: the server drops the connection, as a reset
    or a dying load balancer would."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"balance": "1', "more_body": True})
        raise ConnectionResetError("simulated connection reset")


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def create_app(sim: Simulator) -> Starlette:
    """The ASGI app serving ``sim``."""

    def worlds_addressed(request: Request) -> list[TeamWorld]:
        token = _bearer(request)
        if token:
            return [sim.world_for(token)]
        return list(sim.worlds.values()) or [sim.world_for("demo")]

    async def recorded_call(
        request: Request,
        endpoint: str,
        respond: Callable[[Fault | None], Awaitable[Response]],
        team: str | None,
    ) -> Response:
        """What every documented endpoint shares: the latency, the active fault (consumed
        here), and the record of the request in the ground truth."""
        started = time.time()
        if sim.latency > 0:
            await asyncio.sleep(sim.latency)
        fault = sim.fault if sim.fault and sim.fault.applies_to(endpoint) else None
        if fault is not None:
            fault.consume()
            if fault.exhausted:
                sim.fault = None
        response = await respond(fault)
        sim.requests.append(
            {
                "started": started,
                "at": time.time(),
                "endpoint": endpoint,
                "path": request.url.path,
                "query": str(request.url.query),
                "status": response.status_code,
                "team": team,
            }
        )
        return response

    async def gateway_call(
        request: Request, endpoint: str, answer: Callable[[TeamWorld], Awaitable[Response]]
    ) -> Response:
        token = _bearer(request)
        return await recorded_call(
            request,
            endpoint,
            lambda fault: _answer(request, endpoint, token, fault, answer),
            sim.world_for(token).name if sim.knows(token) else None,
        )

    async def _answer(
        request: Request,
        endpoint: str,
        token: str,
        fault: Fault | None,
        answer: Callable[[TeamWorld], Awaitable[Response]],
    ) -> Response:
        if not sim.knows(token) or (fault and fault.mode == "unauthorized"):
            return _nested_error(
                401, "Authentication failed. Invalid API key or OIDC token.", "authentication_error"
            )
        if fault is not None:
            immediate = await _fault_response(fault)
            if immediate is not None:
                return immediate
        response = await answer(sim.world_for(token))
        if fault is not None and fault.mode in BODY_FAULTS and response.status_code == 200:
            body = json.loads(bytes(response.body))
            return _json(degrade(body, fault.mode))
        return response

    async def _fault_response(fault: Fault) -> Response | None:
        mode = fault.mode
        if mode == "rate_limit":
            return _nested_error(
                429,
                "Rate limit exceeded",
                "rate_limit_exceeded",
                fault.retry_after_header(time.time()),
            )
        if mode == "server_error":
            return _nested_error(500, "Internal server error", "internal_server_error")
        if mode == "unavailable":
            return _nested_error(503, "Service unavailable", "internal_server_error")
        if mode in ("slow", "hang"):
            await asyncio.sleep(fault.delay)
            return Response(status_code=504) if mode == "hang" else None
        if mode == "malformed":
            return Response(b'{"balance": "12.5", total_used', media_type="application/json")
        if mode == "truncated":
            return Response(b'{"data": {"id": "gen_01', media_type="application/json")
        if mode == "html":
            return Response(b"<html><body>Bad gateway</body></html>", media_type="text/html")
        if mode == "reset":
            return _CutOff()
        return None

    async def credits(request: Request) -> Response:
        async def answer(world: TeamWorld) -> Response:
            return _json({"balance": str(world.balance), "total_used": str(world.total_used)})

        return await gateway_call(request, "credits", answer)

    async def generation(request: Request) -> Response:
        gen_id = request.query_params.get("id")

        async def answer(world: TeamWorld) -> Response:
            if not gen_id:
                return _json({"error": "id is required"}, 400)
            if not is_generation_id(gen_id):
                return _json(
                    {"error": "Invalid generation ID format. Expected format: gen_<ulid>"}, 400
                )
            gen = world.generations.get(gen_id)
            if gen is None or time.time() < gen.ready_at:
                return _json(
                    {
                        "error": "Usage event not found",
                        "id": gen_id,
                        "message": f"No usage event found with ID {gen_id}",
                    },
                    404,
                )
            return _json({"data": gen.record()})

        return await gateway_call(request, "generation", answer)

    async def models(request: Request) -> Response:
        data = [
            {
                "id": m.id,
                "object": "model",
                "created": 1755815280,
                "released": 1760486400,
                "owned_by": m.id.split("/")[0],
                "name": m.name,
                "description": m.name,
                "type": "language",
                "pricing": {"input": str(m.input_price), "output": str(m.output_price)},
            }
            for m in CATALOGUE
        ]
        return _json({"object": "list", "data": data})

    # --- control API -------------------------------------------------------------------

    async def control_truth(request: Request) -> Response:
        return _json({"teams": {w.name: w.truth() for w in worlds_addressed(request)}})

    async def control_requests(request: Request) -> Response:
        return _json({"requests": list(sim.requests)})

    async def control_credits(request: Request) -> Response:
        body = await _body(request)
        try:
            balance = Decimal(str(body["balance"]))
        except (KeyError, TypeError, InvalidOperation):
            return _json({"error": 'expected {"balance": "<decimal>"}'}, 400)
        for world in worlds_addressed(request):
            world.balance = balance
        return _json({"ok": True})

    async def control_topup(request: Request) -> Response:
        body = await _body(request)
        try:
            amount = Decimal(str(body["amount"]))
        except (KeyError, TypeError, InvalidOperation):
            return _json({"error": 'expected {"amount": "<decimal>"}'}, 400)
        for world in worlds_addressed(request):
            world.top_up(time.time(), amount)
        return _json({"ok": True})

    async def control_generations(request: Request) -> Response:
        body = await _body(request)
        count = body.get("count", 1)
        ready_after = body.get("ready_after")
        if not isinstance(count, int) or not 0 < count <= 100_000:
            return _json({"error": "count must be an integer from 1 to 100000"}, 400)
        if ready_after is not None and not isinstance(ready_after, (int, float)):
            return _json({"error": "ready_after must be a number of seconds"}, 400)
        ids = [
            sim.generate(world, ready_after, body.get("model")).id
            for world in worlds_addressed(request)
            for _ in range(count)
        ]
        return _json({"ids": ids})

    async def control_faults(request: Request) -> Response:
        if request.method == "DELETE":
            sim.fault = None
            return _json({"fault": None})
        if request.method == "POST":
            try:
                sim.fault = Fault.from_json(await _body(request))
            except ValueError as exc:
                return _json({"error": str(exc)}, 400)
        return _json({"fault": sim.fault.describe() if sim.fault else None})

    # --- Custom Reporting and budgets (answers computed in exporter/simulator/reporting.py) ---

    async def report(request: Request) -> Response:
        async def answer(world: TeamWorld) -> Response:
            status, body = answer_report(world, request.query_params, sim.plan)
            return _json(body, status)

        return await gateway_call(request, "report", answer)

    async def budgets(request: Request) -> Response:
        """Vercel's REST API, not the gateway: a Vercel access token and the team's ID."""
        team_id = request.query_params.get("teamId", "")
        return await recorded_call(
            request,
            "budgets",
            lambda fault: _budgets_answer(_bearer(request), team_id, fault),
            team_id if team_id in sim.worlds else None,
        )

    async def _budgets_answer(token: str, team_id: str, fault: Fault | None) -> Response:
        if not token or sim.is_gateway_key(token) or (fault and fault.mode == "unauthorized"):
            message = "Not authorized: send a Vercel access token (AI Gateway keys do not work)"
            return _json({"error": {"code": "forbidden", "message": message}}, 403)
        if not team_id:
            return _json({"error": {"code": "bad_request", "message": "teamId is required"}}, 400)
        if fault is not None:
            immediate = await _fault_response(fault)
            if immediate is not None:
                return immediate
        status, body = answer_budgets(sim.worlds.get(team_id), time.time())
        if fault is not None and fault.mode in BODY_FAULTS and status == 200:
            body = degrade(body, fault.mode)
        return _json(body, status)

    async def control_plan(request: Request) -> Response:
        if request.method == "POST":
            plan = (await _body(request)).get("plan")
            if plan not in PLANS:
                return _json({"error": f"plan must be one of {', '.join(PLANS)}"}, 400)
            sim.plan = plan
        return _json({"plan": sim.plan})

    return Starlette(
        routes=[
            Route("/v1/credits", credits),
            Route("/v1/generation", generation),
            Route("/v1/models", models),
            Route("/_sim/truth", control_truth),
            Route("/_sim/requests", control_requests),
            Route("/_sim/credits", control_credits, methods=["POST"]),
            Route("/_sim/topup", control_topup, methods=["POST"]),
            Route("/_sim/generations", control_generations, methods=["POST"]),
            Route("/_sim/faults", control_faults, methods=["GET", "POST", "DELETE"]),
            Route("/v1/report", report),
            Route("/ai-gateway/budgets/list", budgets),
            Route("/_sim/plan", control_plan, methods=["GET", "POST"]),
        ]
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
