"""The routes the real service answers, as the reference describes them.

Bearer auth, string decimals on ``/v1/credits``, 404 with the flat envelope until a
generation's record is ready, Custom Reporting, Vercel's budgets list, and the public model
catalog (catalog.py). Every endpoint but the catalog's takes the simulator's latency, serves
the active fault and is recorded in the ground truth, so tests can see exactly what the
exporter asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from exporter.gateway.models import is_generation_id
from exporter.simulator.faults import BODY_FAULTS, Fault, degrade
from exporter.simulator.reporting import Answer, answer_budgets, answer_report
from exporter.simulator.responses import bearer_token, html_not_found, json_response
from exporter.simulator.state import Simulator
from exporter.simulator.world import TeamWorld

# Given whether the active fault is "unauthorized": the error that ends the call before any
# other fault or the answer, or None to go on.
Refusal = Callable[[bool], Response | None]


def _nested_error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> Response:
    """The gateway's error envelope (``{"error": {"message", "type"}}``)."""
    return json_response({"error": {"message": message, "type": kind}}, status, headers)


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


async def _fault_response(fault: Fault) -> Response | None:
    """The answer a fault puts in place of the real one, or None when the real one goes out
    (after the delay of ``slow``, reshaped later for the BODY_FAULTS)."""
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
    if mode == "not_found_html":
        return html_not_found()
    if mode == "quota_exceeded":
        message = (
            'Quota limit exceeded for "api_key_id_sim". Current spend: $10.00, limit: $10.00. '
            "Please contact your administrator to increase the quota."
        )
        return _nested_error(402, message, "quota_for_entity_exceeded")
    if mode == "reset":
        return _CutOff()
    return None


async def _respond(fault: Fault | None, refuse: Refusal, answer: Callable[[], Answer]) -> Response:
    """The refusal, else the fault's own answer, else the real answer (reshaped by a body
    fault when it is a 200)."""
    refused = refuse(fault is not None and fault.mode == "unauthorized")
    if refused is not None:
        return refused
    if fault is not None:
        immediate = await _fault_response(fault)
        if immediate is not None:
            return immediate
    status, body = answer()
    if fault is not None and fault.mode in BODY_FAULTS and status == 200:
        body = degrade(body, fault.mode)
    return json_response(body, status)


def _credits(world: TeamWorld) -> Answer:
    return 200, {"balance": str(world.balance), "total_used": str(world.total_used)}


def _generation(world: TeamWorld, gen_id: str | None, foreign: bool = False) -> Answer:
    """The record once it is ready; until then the flat 404 envelope the real API sends. An ID
    of another team's generation (``foreign``, in the mode that refuses those) gets a 403."""
    if not gen_id:
        return 400, {"error": "id is required"}
    if not is_generation_id(gen_id):
        return 400, {"error": "Invalid generation ID format. Expected format: gen_<ulid>"}
    gen = world.generations.get(gen_id)
    if gen is None and foreign:
        message = "You do not have access to this generation"
        return 403, {"error": {"message": message, "type": "forbidden"}}
    if gen is None or time.time() < gen.ready_at:
        return 404, {
            "error": "Usage event not found",
            "id": gen_id,
            "message": f"No usage event found with ID {gen_id}",
        }
    return 200, {"data": gen.record()}


class GatewayRoutes:
    """The documented endpoints, served from one simulator's teams and faults."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[Route]:
        return [
            Route("/v1/credits", self.credits),
            Route("/v1/generation", self.generation),
            Route("/v1/models", self.models),
            Route("/v1/models/{creator}/{model}/endpoints", self.endpoints),
            Route("/v1/report", self.report),
            Route("/ai-gateway/budgets/list", self.budgets),
        ]

    async def credits(self, request: Request) -> Response:
        return await self._team_call(request, "credits", _credits)

    async def generation(self, request: Request) -> Response:
        gen_id = request.query_params.get("id")
        return await self._team_call(
            request, "generation", lambda world: _generation(world, gen_id, self._foreign(gen_id))
        )

    def _foreign(self, gen_id: str | None) -> bool:
        """Whether the ID is some team's generation and such IDs are refused (a 403) rather
        than unknown (a 404) to the others."""
        return self.sim.modes.foreign_generations == "forbidden" and any(
            gen_id in world.generations for world in self.sim.worlds.values()
        )

    async def report(self, request: Request) -> Response:
        """Custom Reporting, computed in exporter/simulator/reporting.py."""
        return await self._team_call(
            request,
            "report",
            lambda world: answer_report(
                world, request.query_params, self.sim.plan, self.sim.modes.hourly_groups
            ),
        )

    async def models(self, request: Request) -> Response:
        """The public catalogue: no key, no fault, not recorded (the tests' readiness probe)."""
        return json_response(self.sim.catalog.models_answer())

    async def endpoints(self, request: Request) -> Response:
        """A model's providers with their prices and drifting health; public like /v1/models."""
        model_id = f"{request.path_params['creator']}/{request.path_params['model']}"
        status, body = self.sim.catalog.endpoints_answer(model_id, time.time())
        return json_response(body, status)

    async def budgets(self, request: Request) -> Response:
        """Vercel's REST API, not the gateway: a Vercel access token and the team's ID."""
        token = bearer_token(request)
        team_id = request.query_params.get("teamId", "")

        def refuse(unauthorized: bool) -> Response | None:
            if not token or self.sim.is_gateway_key(token) or unauthorized:
                message = "Not authorized: send a Vercel access token (AI Gateway keys do not work)"
                return json_response({"error": {"code": "forbidden", "message": message}}, 403)
            if not team_id:
                return json_response(
                    {"error": {"code": "bad_request", "message": "teamId is required"}}, 400
                )
            return None

        return await self._recorded(
            request,
            "budgets",
            team_id if team_id in self.sim.worlds else None,
            refuse,
            lambda: answer_budgets(
                self.sim.worlds.get(team_id), time.time(), self.sim.modes.odd_budgets
            ),
        )

    async def _team_call(
        self,
        request: Request,
        endpoint: str,
        answer: Callable[[TeamWorld], Answer],
    ) -> Response:
        """A gateway endpoint: the bearer token is an AI Gateway key and picks the team."""
        token = bearer_token(request)

        def refuse(unauthorized: bool) -> Response | None:
            # Asked again: a control call may have keyed the token during the latency.
            if not self.sim.knows(token) or unauthorized:
                message = "Authentication failed. Invalid API key or OIDC token."
                return _nested_error(401, message, "authentication_error")
            return None

        return await self._recorded(
            request,
            endpoint,
            self.sim.world_for(token).name if self.sim.knows(token) else None,
            refuse,
            lambda: answer(self.sim.world_for(token)),
        )

    async def _recorded(
        self,
        request: Request,
        endpoint: str,
        team: str | None,
        refuse: Refusal,
        answer: Callable[[], Answer],
    ) -> Response:
        """What every recorded endpoint shares: the latency, the active fault (consumed
        here), and the record of the request in the ground truth."""
        sim = self.sim
        started = time.time()
        if sim.latency > 0:
            await asyncio.sleep(sim.latency)
        fault = sim.fault if sim.fault and sim.fault.applies_to(endpoint) else None
        if fault is not None:
            fault.consume()
            if fault.exhausted:
                sim.fault = None
        response = await _respond(fault, refuse, answer)
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
