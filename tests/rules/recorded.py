"""The recording rules of the shipped file, and the series they record as the contract sees them.

Two kinds, told apart by their level (grafana/rules/vercel-ai-gateway.rules.yaml says why):

- per replica, ``instance_<labels>:<metric>:<operation>``: no aggregation, so a recorded series
  keeps the labels and the replica aggregation of what it is made of
  (``tests.support.promql.recorded_families``);
- per team, ``<labels>:<a>_per_<b>:ratio_<operation>``: a ratio, computed once the replicas are
  combined (counters summed, mirrored values max'ed). Its series keep job and the level's
  labels, one per team (and provider): the same whichever replica is asked, so it is read with
  ``max``, like a value every replica mirrors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exporter import metrics
from exporter.metrics import Family, Replicas, Type
from tests.support import promql

PER_REPLICA_LEVEL = "instance"
# Every label a level may name: the contract's, longest first (a level joins them with "_").
_LABELS = sorted(
    {label for f in metrics.FAMILIES for label in (*f.labels, *f.optional_labels)},
    key=len,
    reverse=True,
)


@dataclass(frozen=True)
class Rule:
    record: str
    expr: str

    @property
    def level(self) -> str:
        return self.record.split(":")[0]

    @property
    def per_replica(self) -> bool:
        return self.level == PER_REPLICA_LEVEL or self.level.startswith(PER_REPLICA_LEVEL + "_")


def level_labels(level: str) -> tuple[str, ...]:
    """The labels a level names (``vercel_team_provider``: vercel_team, provider)."""
    out: list[str] = []
    rest = level
    while rest:
        for label in _LABELS:
            if rest == label or rest.startswith(label + "_"):
                out.append(label)
                rest = rest[len(label) + 1 :]
                break
        else:
            raise ValueError(f"level {level!r}: {rest!r} is no label of the contract")
    return tuple(out)


def records(path: Path) -> list[Rule]:
    groups: list[dict[str, Any]] = yaml.safe_load(path.read_text())["groups"]
    return [
        Rule(rule["record"], rule["expr"])
        for group in groups
        for rule in group["rules"]
        if "record" in rule
    ]


def recorded_families(rules: Iterable[Rule]) -> dict[str, Family]:
    """The family of each recorded series, per-replica rules first (ratios may read them)."""
    rules = list(rules)
    known = promql.recorded_families((r.record, r.expr) for r in rules if r.per_replica)
    for rule in rules:
        if rule.per_replica:
            continue
        sources = _sources(rule.expr, known)
        labels = level_labels(rule.level)
        known[rule.record] = Family(
            rule.record, Type.GAUGE, "ratio", labels, rule.expr, Replicas.MAX, sources[0].area
        )
    return known


def _sources(expr: str, known: Mapping[str, Family]) -> list[Family]:
    found = []
    for selector in promql.selectors(expr):
        family = promql.family_of(selector.metric, dict(known))
        if family is None:
            raise AssertionError(f"{selector.metric} is neither recorded nor in the contract")
        found.append(family)
    return found
