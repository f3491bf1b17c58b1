"""The fake gateway's HTTP API: the documented endpoints (gateway_routes.py) next to the
simulator's own control API (control_routes.py), both serving one Simulator (state.py)."""

from __future__ import annotations

from starlette.applications import Starlette

from exporter.simulator.control_routes import ControlRoutes
from exporter.simulator.gateway_routes import GatewayRoutes
from exporter.simulator.state import Simulator

# Simulator is imported from here by the CLI, the demo and the tests.
__all__ = ["Simulator", "create_app"]


def create_app(sim: Simulator) -> Starlette:
    """The ASGI app serving ``sim``."""
    return Starlette(routes=GatewayRoutes(sim).routes() + ControlRoutes(sim).routes())
