"""The exporter's HTTP API: metrics, the landing page, probes, and the routes parts add
(intake, OpenAPI), behind the access layer.

Nothing here calls upstream: ``/metrics`` renders what the collectors hold, so a scrape costs
no API request however many Prometheus replicas and dashboards ask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from exporter import routes
from exporter.clock import Clock
from exporter.exposition import Exposition
from exporter.generations.activity import Arrivals
from exporter.redaction import SECRETS
from exporter.web.auth import BasicAuth, PasswordCheck
from exporter.web.config_file import WebAccess
from exporter.web.landing import TeamStatus, landing_page
from exporter.web.limits import HeaderLimit, IntakeLimit
from exporter.web.refusals import Refusal, Refusals


@dataclass(frozen=True)
class Access:
    """Who may call the app and how much one request may ask of it."""

    web: WebAccess
    ingest_token: bool  # intake takes the ingest bearer token instead of basic auth
    max_concurrent_intake: int
    max_header_bytes: int
    drain_signed: bool = False  # a drain secret is set: signed deliveries prove themselves


def render_metrics(exposition: Exposition, accept: str | None, gzip_ok: bool) -> Response:
    """Text or OpenMetrics (with exemplars) by the scraper's Accept header, gzipped if asked."""
    body, content_type = exposition.render(accept, gzip_ok)
    headers = {"Content-Encoding": "gzip"} if gzip_ok else {}
    return Response(body, media_type=content_type, headers=headers)


def create_app(
    exposition: Exposition,
    telemetry_path: str,
    statuses: Callable[[], Sequence[TeamStatus]],
    extra_routes: Sequence[Route] = (),
    notes: Callable[[], Sequence[str]] | None = None,
    arrivals: Callable[[], Arrivals] | None = None,
    refusals: Callable[[], Sequence[Refusal]] | None = None,
) -> Starlette:
    async def metrics(request: Request) -> Response:
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        return await run_in_threadpool(
            render_metrics, exposition, request.headers.get("accept"), gzip_ok
        )

    async def landing(request: Request) -> Response:
        page = landing_page(
            telemetry_path,
            statuses(),
            notes() if notes else (),
            arrivals() if arrivals else None,
            refusals() if refusals else (),
        )
        return HTMLResponse(SECRETS.mask(page))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        rows = statuses()
        pending = [SECRETS.mask(s.team) for s in rows if not s.ready]
        body: dict[str, object] = (
            {"ready": False, "waiting_for": pending} if pending else {"ready": True}
        )
        # Why a team cannot work (a URL that leads to no API). Like a rejected key, it leaves
        # readiness alone: intake still stores IDs durably, to be looked up once it is fixed.
        wrong = {
            SECRETS.mask(s.team): SECRETS.mask(s.misconfigured) for s in rows if s.misconfigured
        }
        if wrong:
            body["misconfigured"] = wrong
        return JSONResponse(body, status_code=503 if pending else 200)

    # Starlette tries the routes in order, a regular expression each: the busy ones first
    # (no two paths can overlap: config/schema.py keeps the telemetry path off the others).
    return Starlette(
        routes=[
            *extra_routes,
            Route(telemetry_path, metrics),
            Route(routes.LANDING, landing),
            Route(routes.HEALTHZ, healthz),
            Route(routes.READYZ, readyz),
        ]
    )


class Direct:
    """ASGI: a request for one of a few busy (path, method) pairs goes straight to its
    endpoint; every other request goes to ``app``, whose routes answer the other methods of
    those paths (405) as any route does.

    Starlette's app puts two middlewares, its router and a route's wrappers around each
    request; on a one-ID intake request those layers cost more than the rest of the edge.
    """

    def __init__(self, app: ASGIApp, endpoints: Mapping[tuple[str, str], ASGIApp]) -> None:
        self._app = app
        self._endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self._endpoints.get((scope["path"], scope["method"]))
            if scope["type"] == "http"
            else None
        )
        await (endpoint or self._app)(scope, receive, send)


def protect(
    app: ASGIApp, access: Access, clock: Clock | None = None, refusals: Refusals | None = None
) -> tuple[ASGIApp, PasswordCheck | None]:
    """``app`` behind, outermost first: the header limit, basic auth (when users are
    configured) and the intake cap; and the password check, whose users a reload replaces."""
    app = IntakeLimit(app, limit=access.max_concurrent_intake, refusals=refusals)
    check = None
    if access.web.users:
        check = PasswordCheck(access.web.users, clock)
        bearer_paths = routes.INTAKE if access.ingest_token else frozenset()
        signed_paths = frozenset({routes.TRACES}) if access.drain_signed else frozenset()
        app = BasicAuth(app, check=check, bearer_paths=bearer_paths, signed_paths=signed_paths)
    return HeaderLimit(app, limit=access.max_header_bytes), check
