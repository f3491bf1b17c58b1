"""The exporter's HTTP API: metrics, a landing page, and the liveness and readiness probes.

Nothing here calls upstream: ``/metrics`` renders what the collectors hold, so a scrape costs
no API request however many Prometheus replicas and dashboards ask.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from exporter import __version__


@dataclass(frozen=True)
class TeamStatus:
    """One row of the landing page and of ``/readyz``."""

    team: str
    ready: bool
    up: bool
    last_success_age: float | None  # seconds since the last good credits refresh
    detail: str  # last error, or the balance


def render_metrics(registry: CollectorRegistry, accept: str | None, gzip_ok: bool) -> Response:
    """Text or OpenMetrics (with exemplars) by the scraper's Accept header, gzipped if asked."""
    encoder, content_type = choose_encoder(accept or "")
    body = encoder(registry)
    headers = {}
    if gzip_ok:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=content_type, headers=headers)


def _landing_page(
    telemetry_path: str, statuses: Sequence[TeamStatus], notes: Sequence[str] = ()
) -> str:
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(s.team),
            "up" if s.up else ("down" if s.ready else "starting"),
            "never" if s.last_success_age is None else f"{s.last_success_age:.0f}s ago",
            html.escape(s.detail),
        )
        for s in statuses
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Vercel AI Gateway exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}</style>
</head><body>
<h1>Vercel AI Gateway exporter</h1>
<p>Version {html.escape(__version__)}</p>
<ul>
<li><a href="{html.escape(telemetry_path)}">Metrics</a></li>
<li><a href="/healthz">Health</a> · <a href="/readyz">Readiness</a></li>
<li>POST generation IDs to <code>/generations</code></li>
</ul>
<h2>Teams</h2>
<table><tr><th>Team</th><th>Status</th><th>Last credits refresh</th><th>Detail</th></tr>
{rows}</table>
{_notes_section(notes)}</body></html>
"""


def _notes_section(notes: Sequence[str]) -> str:
    """What optional features cost the user (Custom Reporting queries are billed)."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"<h2>Costs</h2>\n<ul>{items}</ul>\n"


def create_app(
    registry: CollectorRegistry,
    telemetry_path: str,
    statuses: Callable[[], Sequence[TeamStatus]],
    extra_routes: Sequence[Route] = (),
    notes: Callable[[], Sequence[str]] | None = None,
) -> Starlette:
    async def metrics(request: Request) -> Response:
        gzip_ok = "gzip" in request.headers.get("accept-encoding", "")
        return await run_in_threadpool(
            render_metrics, registry, request.headers.get("accept"), gzip_ok
        )

    async def landing(request: Request) -> Response:
        return HTMLResponse(_landing_page(telemetry_path, statuses(), notes() if notes else ()))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(request: Request) -> Response:
        pending = [s.team for s in statuses() if not s.ready]
        if pending:
            return JSONResponse({"ready": False, "waiting_for": pending}, status_code=503)
        return JSONResponse({"ready": True})

    return Starlette(
        routes=[
            Route("/", landing),
            Route(telemetry_path, metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *extra_routes,
        ]
    )
