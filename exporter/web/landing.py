"""The landing page: what an operator opens first, in plain HTML with no scripts."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from exporter import __version__
from exporter.web import paths


@dataclass(frozen=True)
class TeamStatus:
    """One row of the landing page and of ``/readyz``."""

    team: str
    ready: bool
    up: bool
    last_success_age: float | None  # seconds since the last good credits refresh
    detail: str  # last error, or the balance


def landing_page(
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
<li><a href="{paths.HEALTHZ}">Health</a> · <a href="{paths.READYZ}">Readiness</a></li>
<li>POST generation IDs to <code>{paths.GENERATIONS}</code>
(<a href="{paths.OPENAPI}">OpenAPI</a>)</li>
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
