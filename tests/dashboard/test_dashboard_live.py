"""No panel is empty: every dashboard query returns data from a real Prometheus.

The exporter runs in demo mode (its in-process simulator makes credits, generations, reports
and budgets move); a real Prometheus with the shipped rules (whose recorded series some panels
read) scrapes it every second for about a minute. Then every query of every panel, and every
variable, is run as Grafana would run it ($__rate_interval set, $job and $vercel_team expanded
to the variables' values, $instance at its All value). A query that returns nothing, or only
NaN, fails the test with the panel's name and the exporter metric families that are missing.
The queries that show exemplars must find some, each carrying a generation ID.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exporter import metrics
from tests.dashboard.queries import Query, load_dashboard, panel_queries, variable_queries
from tests.support import promql
from tests.support.processes import REPO_ROOT, ManagedProcess, exporter_command, free_port
from tests.support.prometheus import PrometheusServer, static_job

JOB = "vercel-ai-gateway-exporter"
RULE_FILE = REPO_ROOT / "grafana" / "rules" / "vercel-ai-gateway.rules.yaml"
COLLECT_SECONDS = 70.0
RATE_INTERVAL = "1m"  # what Grafana picks for a 1 s scrape interval and a 24 h view

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    workdir: Path = tmp_path_factory.mktemp("dashboard-live")
    port = free_port()
    exporter = ManagedProcess(
        exporter_command("--demo", f"--web.listen-address=127.0.0.1:{port}"),
        workdir / "exporter.log",
    )
    server = None
    try:
        exporter.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        server = PrometheusServer(
            workdir / "prometheus",
            [static_job(JOB, f"127.0.0.1:{port}")],
            rule_files=[RULE_FILE],
            extra_args=["--enable-feature=exemplar-storage"],
        )
        started = time.monotonic()
        server.wait_for(metrics.BUILD_INFO.name, timeout=30)
        time.sleep(max(0.0, COLLECT_SECONDS - (time.monotonic() - started)))
        assert exporter.alive(), exporter.output()
        yield server
    finally:
        if server is not None:
            server.stop()
        exporter.stop()


def _teams(prometheus: PrometheusServer) -> str:
    (team_var,) = [q for q in variable_queries() if q.where == "variable vercel_team"]
    values = sorted(
        {s["metric"][team_var.label or ""] for s in prometheus.query(team_var.promql(job=JOB))}
    )
    assert values, "the team variable lists no team"
    return "|".join(values)


def _has_finite_value(result: list[dict[str, object]]) -> bool:
    for sample in result:
        value = sample.get("value")
        if isinstance(value, list) and not math.isnan(float(value[1])):
            return True
    return False


def _present_families(prometheus: PrometheusServer) -> set[str]:
    result = prometheus.query('count by (__name__) ({__name__=~"vercel_ai_gateway_.+"})')
    return {str(s["metric"]["__name__"]) for s in result}


def _missing_families(query: Query, present: set[str]) -> list[str]:
    return sorted({s.metric for s in promql.selectors(query.expr)} - present)


def test_every_variable_has_values(prometheus: PrometheusServer) -> None:
    for query in variable_queries():
        result = prometheus.query(query.promql(job=JOB))
        values = {s["metric"].get(query.label or "") for s in result} - {None, ""}
        assert values, f"{query.where}: {query.expr} lists no {query.label}"
        if query.label == "job":
            assert values == {JOB}


def test_no_panel_is_empty(prometheus: PrometheusServer) -> None:
    teams = _teams(prometheus)
    present = _present_families(prometheus)
    empty: list[str] = []
    panels_with_data: set[int] = set()
    queries = panel_queries()
    for query in queries:
        expr = query.promql(rate_interval=RATE_INTERVAL, job=JOB, vercel_team=teams)
        result = prometheus.query(expr)
        if _has_finite_value(result):
            assert query.panel_id is not None
            panels_with_data.add(query.panel_id)
            continue
        missing = _missing_families(query, present)
        why = f"no series of {', '.join(missing)}" if missing else "no data (or only NaN)"
        empty.append(f"{query.where}: {why}\n    {expr}")
    empty_panels = sorted(
        {f"{q.panel_id} {q.panel_title!r}" for q in queries if q.panel_id not in panels_with_data}
    )
    assert not empty, (
        f"{len(empty)} of {len(queries)} queries returned nothing after "
        f"{COLLECT_SECONDS:.0f}s of demo mode; empty panels: {empty_panels}\n" + "\n".join(empty)
    )


def test_all_contract_families_are_published_in_demo_mode(
    prometheus: PrometheusServer,
) -> None:
    """The metric families the dashboard reads all exist in demo mode (a clearer message)."""
    present = _present_families(prometheus)
    needed = {
        s.metric
        for q in panel_queries()
        for s in promql.selectors(q.expr)
        if promql.family_of(s.metric) is not None
    }
    assert needed - present == set(), "families the dashboard needs that demo mode lacks"


def test_exemplar_queries_find_generation_ids(prometheus: PrometheusServer) -> None:
    teams = _teams(prometheus)
    with_exemplars = [
        (panel, target)
        for panel in load_dashboard()["panels"]
        for target in panel.get("targets", [])
        if target.get("exemplar")
    ]
    assert len(with_exemplars) >= 3
    now = time.time()
    for panel, target in with_exemplars:
        query = Query(panel["title"], target["expr"])
        resp = httpx.get(
            f"{prometheus.url}/api/v1/query_exemplars",
            params={
                "query": query.promql(rate_interval=RATE_INTERVAL, job=JOB, vercel_team=teams),
                "start": now - 300,
                "end": now,
            },
            timeout=10,
        )
        body = resp.json()
        assert body["status"] == "success", body
        ids = [
            e["labels"].get("generation_id") for series in body["data"] for e in series["exemplars"]
        ]
        assert ids, f"panel {panel['title']!r}: no exemplars"
        assert all(re.fullmatch(r"gen_[0-9A-Z]{26}", str(i)) for i in ids), ids[:5]
