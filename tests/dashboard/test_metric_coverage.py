"""Every metric family of the contract is shown or alerted on, and nothing else is read.

Both ways: each family of ``exporter.metrics.FAMILIES`` is used by a dashboard query or a rule,
unless it is marked ``unpanelled`` (with a reason), and then it is used by none; and every
metric a query or rule reads is in the contract, recorded by a rule of the shipped file, or
Prometheus' own ``up``. Every recording rule is read.
"""

from __future__ import annotations

import yaml

from exporter import metrics
from tests.dashboard.queries import panel_queries, variable_queries
from tests.support import promql
from tests.support.processes import REPO_ROOT

RULE_FILE = REPO_ROOT / "grafana" / "rules" / "vercel-ai-gateway.rules.yaml"
PROMETHEUS_OWN = frozenset({"up"})


def _rules() -> list[dict[str, str]]:
    groups = yaml.safe_load(RULE_FILE.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _read_by_dashboard() -> set[str]:
    return {
        name
        for query in panel_queries() + variable_queries()
        for name in promql.metric_names(query.expr)
    }


def _read_by_rules() -> set[str]:
    return {name for rule in _rules() for name in promql.metric_names(rule["expr"])}


def _recorded() -> set[str]:
    return {rule["record"] for rule in _rules() if "record" in rule}


def _family_names(read: set[str]) -> set[str]:
    """The contract families whose series (a histogram's _bucket, _sum, _count) are read."""
    return {metrics.BY_SERIES_NAME[name].name for name in read if name in metrics.BY_SERIES_NAME}


def test_every_family_is_on_a_panel_or_in_a_rule_unless_unpanelled() -> None:
    used = _family_names(_read_by_dashboard() | _read_by_rules())
    unpanelled = {family.name for family in metrics.FAMILIES if family.unpanelled}
    missing = {family.name for family in metrics.FAMILIES} - unpanelled - used
    assert missing == set(), "families on no panel and in no rule: show them, or say why not"
    assert unpanelled & used == set(), "families marked unpanelled that a panel or rule reads"
    reasons = [f.unpanelled for f in metrics.FAMILIES if f.unpanelled is not None]
    assert all(len(reason.split()) >= 5 for reason in reasons), "say why in a sentence"


def test_everything_read_is_in_the_contract_or_recorded() -> None:
    known = set(metrics.BY_SERIES_NAME) | _recorded() | PROMETHEUS_OWN
    assert _read_by_dashboard() - known == set()
    assert _read_by_rules() - known == set()


def test_every_recording_rule_is_read() -> None:
    """By an alert, a panel, or another recording rule (the runway reads the 6 h burn rate)."""
    assert _recorded() - _read_by_rules() - _read_by_dashboard() == set()
