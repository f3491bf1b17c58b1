"""The fake gateway's HTTP API: the documented endpoints (gateway_routes.py) next to the
simulator's own control API (control_routes.py), both serving one Simulator (state.py)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from exporter.simulator.control_routes import ControlRoutes
from exporter.simulator.gateway_routes import GatewayRoutes
from exporter.simulator.responses import html_not_found, json_response
from exporter.simulator.state import Simulator

# Simulator is imported from here by the CLI, the demo and the tests.
__all__ = ["Simulator", "create_app"]


async def _no_such_path(request: Request) -> Response:
    """What the gateway answers a path it does not have: under ``/v1`` a JSON 404, elsewhere
    a web page (so ``/v1/v1/credits``, from a URL that already ends in /v1, is a JSON 404)."""
    if request.url.path.startswith("/v1/"):
        return json_response({"error": {"message": "Not found", "type": "not_found_error"}}, 404)
    return html_not_found()


def create_app(sim: Simulator) -> Starlette:
    """The ASGI app serving ``sim``."""
    fallback = Route("/{path:path}", _no_such_path)
    return Starlette(routes=[*GatewayRoutes(sim).routes(), *ControlRoutes(sim).routes(), fallback])
