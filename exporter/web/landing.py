"""The landing page: what an operator opens first, in plain HTML with no scripts."""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass

from exporter import __version__, routes
from exporter.generations.activity import Arrivals, PathArrivals, TeamArrivals
from exporter.web.refusals import Refusal

# Where a user learns to send generation IDs: the landing page is read where the docs are not.
SENDING_DOCS = (
    "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter/blob/main/"
    "docs/generations.md"
)
SENDING_TRACES_ANCHOR = "sending-traces"
DRAIN_ANCHOR = "ai-gateway-trace-drain"
# The intake label's values as a person knows the paths.
INTAKE_NAMES = {
    "drain": f"AI Gateway trace drain (POST {routes.TRACES}, signed)",
    "http": f"POST {routes.GENERATIONS}",
    "follow": "log follower",
    "otlp": f"POST {routes.TRACES}",
}


@dataclass(frozen=True)
class TeamStatus:
    """One row of the landing page and of ``/readyz``."""

    team: str
    ready: bool
    up: bool
    last_success_age: float | None  # seconds since the last good credits refresh
    detail: str  # last error, or the balance
    misconfigured: str | None = None  # why the configuration cannot work (a wrong URL)


def landing_page(
    telemetry_path: str,
    statuses: Sequence[TeamStatus],
    notes: Sequence[str] = (),
    arrivals: Arrivals | None = None,
    refusals: Sequence[Refusal] = (),
) -> str:
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(s.team),
            "up" if s.up else ("misconfigured" if s.misconfigured else _down(s.ready)),
            "never" if s.last_success_age is None else f"{s.last_success_age:.0f}s ago",
            html.escape(s.detail),
        )
        for s in statuses
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Vercel AI Gateway exporter</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em 1em;text-align:left}}
table{{margin-bottom:1em}}</style>
</head><body>
<h1>Vercel AI Gateway exporter</h1>
<p>Version {html.escape(__version__)}</p>
<ul>
<li><a href="{html.escape(telemetry_path)}">Metrics</a></li>
<li><a href="{routes.HEALTHZ}">Health</a> · <a href="{routes.READYZ}">Readiness</a></li>
<li>POST generation IDs to <code>{routes.GENERATIONS}</code>
(<a href="{routes.OPENAPI}">OpenAPI</a>)</li>
<li>POST OpenTelemetry traces (OTLP/HTTP) to <code>{routes.TRACES}</code>: AI Gateway's
trace drain (signed), a Collector, or an application's SDK</li>
</ul>
<h2>Teams</h2>
<table><tr><th>Team</th><th>Status</th><th>Last credits refresh</th><th>Detail</th></tr>
{rows}</table>
{_arrivals_section(arrivals)}{_refusals_section(refusals)}{_notes_section(notes)}</body></html>
"""


def _down(ready: bool) -> str:
    return "down" if ready else "starting"


def _notes_section(notes: Sequence[str]) -> str:
    """What optional features cost the user (Custom Reporting queries are billed)."""
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return f"<h2>Costs</h2>\n<ul>{items}</ul>\n"


def _refusals_section(refusals: Sequence[Refusal]) -> str:
    """Requests the intake refused since the start: a sender may never report its errors."""
    if not refusals:
        return ""
    rows = "".join(
        f'<tr data-path="{html.escape(r.path)}" data-reason="{html.escape(r.reason)}">'
        f"<td>{html.escape(r.path)}</td><td>{html.escape(r.reason)}</td><td>{r.count}</td>"
        f"<td>{html.escape(_wall(r.last_at))}</td><td>{html.escape(r.last_message)}</td></tr>\n"
        for r in refusals
    )
    return (
        '<h2 id="refused">Refused intake requests</h2>\n'
        "<p>Since this exporter started; nothing of a refused request was stored. Senders "
        "rarely show these errors themselves.</p>\n"
        '<table class="refused"><tr><th>Path</th><th>Reason</th><th>Requests</th>'
        f"<th>Last</th><th>Last answer</th></tr>\n{rows}</table>\n"
    )


def _arrivals_section(arrivals: Arrivals | None) -> str:
    """Are my applications' generations arriving? Per team and intake path."""
    if arrivals is None:
        return ""
    since = html.escape(_wall(arrivals.since))
    parts = [
        '<h2 id="arrivals">Generations arriving</h2>\n',
        "<p>The last hour is counted in memory since this exporter started "
        f"({since}); the totals and the outcomes come from the state file.</p>\n",
    ]
    parts += [_team_arrivals(team) for team in arrivals.teams]
    return "".join(parts)


def _team_arrivals(team: TeamArrivals) -> str:
    name = html.escape(team.team)
    out = [f"<h3>Team {name}</h3>\n"]
    if team.nothing_yet:
        out.append(
            f'<p class="nothing-yet">No generation IDs have arrived for team {name} yet: '
            f'create an <a href="{SENDING_DOCS}#{DRAIN_ANCHOR}">AI Gateway trace drain</a> to '
            f"POST {routes.TRACES} (no application code), or "
            f'<a href="{SENDING_DOCS}">send IDs</a> to POST {routes.GENERATIONS}, from a log, '
            f'or as <a href="{SENDING_DOCS}#{SENDING_TRACES_ANCHOR}">OpenTelemetry traces</a>.'
            "</p>\n"
        )
    out.append(
        f'<table class="arrivals" data-team="{name}"><tr><th>Intake path</th>'
        "<th>Last hour</th><th>Last arrival</th><th>Accepted in total</th><th>Duplicates</th>"
        "<th>Rejected</th><th>Stale or future</th></tr>\n"
    )
    out += [_path_row(path) for path in team.paths]
    out.append("</table>\n")
    if team.unseen:
        out.append(f'<p class="unseen">{html.escape(team.unseen)}</p>\n')
    out.append(f'<table class="outcomes" data-team="{name}">\n')
    outcomes = [
        ("pending", "Pending lookup", team.pending),
        ("counted", "Counted (found)", team.counted),
        ("drained", "Counted from drain spans (no lookup; failures included)", team.drained),
    ]
    outcomes += [(f"abandoned:{r}", f"Abandoned: {r}", n) for r, n in team.abandoned]
    out += [
        f'<tr data-outcome="{html.escape(key)}"><th>{html.escape(label)}</th>'
        f"<td>{count}</td></tr>\n"
        for key, label, count in outcomes
    ]
    out.append("</table>\n")
    return "".join(out)


def _path_row(path: PathArrivals) -> str:
    last = "never"
    if path.last_arrival is not None and path.last_arrival_age is not None:
        last = f"{_wall(path.last_arrival)} ({_ago(path.last_arrival_age)})"
    return (
        f'<tr data-intake="{html.escape(path.intake)}">'
        f"<td>{html.escape(INTAKE_NAMES.get(path.intake, path.intake))}</td>"
        f"<td>{path.last_hour}</td><td>{html.escape(last)}</td><td>{path.accepted}</td>"
        f"<td>{path.duplicates}</td><td>{path.rejected}</td><td>{path.out_of_window}</td></tr>\n"
    )


def _wall(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"
