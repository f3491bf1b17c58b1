"""Every PromQL expression of the dashboard parses (promtool check rules)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dashboard.queries import Query, panel_queries, variable_queries


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is missing: install Debian's 'prometheus' package (make test does)")
    return path


def check_as_rules(queries: list[Query], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Write each query as a recording rule ``q<n>`` and let promtool parse the file."""
    rules = [{"record": f"dashboard:q{n}", "expr": q.promql()} for n, q in enumerate(queries)]
    path = workdir / "dashboard-queries.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return subprocess.run(
        [_promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _explain(result: subprocess.CompletedProcess[str], queries: list[Query]) -> str:
    lines = []
    for match in re.finditer(r'"dashboard:q(\d+)": (.*)', result.stdout + result.stderr):
        query = queries[int(match.group(1))]
        lines.append(f"{query.where}: {match.group(2)}\n    {query.expr}")
    return "\n".join(lines) or (result.stdout + result.stderr)


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    queries = panel_queries() + variable_queries()
    assert len(queries) >= 50
    result = check_as_rules(queries, tmp_path)
    assert result.returncode == 0, _explain(result, queries)
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_a_broken_expression_is_reported_with_its_panel(tmp_path: Path) -> None:
    queries = [
        *panel_queries()[:3],
        Query("panel 99 'Broken' A", "sum by (model (rate(x[$__rate_interval]))", 99, "Broken"),
    ]
    result = check_as_rules(queries, tmp_path)
    assert result.returncode != 0
    assert "panel 99 'Broken' A" in _explain(result, queries)
