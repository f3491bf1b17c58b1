"""The metric table is the only place a metric name is spelled, and it is well-formed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter import metrics
from exporter.generations.observations import GENERATION_LABELS
from exporter.metrics import FAMILIES, NAMESPACE, Family, Replicas, Type
from tests.support.processes import REPO_ROOT

# Python code that could spell a name: the package, its tests, benchmarks and generators.
CODE = sorted(
    path
    for folder in ("exporter", "tests", "bench", "grafana", "tools")
    for path in (REPO_ROOT / folder).rglob("*.py")
    if "node_modules" not in path.parts
)
TABLE = Path(metrics.__file__)
# The Prometheus naming guide's base units, and what this exporter adds (money, tokens).
UNITS = {
    "usd": "_usd",
    "seconds": "_seconds",
    "tokens": "_tokens",
    "ratio": "_ratio",
    "bytes": "_bytes",
}
LABEL = re.compile(r"[a-z_][a-z0-9_]*")


def suffix(family: Family) -> str:
    return family.name.removeprefix(f"{NAMESPACE}_")


@pytest.fixture(scope="module")
def sources() -> dict[Path, str]:
    return {path: path.read_text() for path in CODE}


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_name_is_spelled_once_in_code(family: Family, sources: dict[Path, str]) -> None:
    full = re.compile(rf"\b{family.name}")
    spelt = re.compile(rf"""["']{suffix(family)}["']""")
    where = [
        f"{path.relative_to(REPO_ROOT)}: {len(found)}"
        for path, text in sources.items()
        if (found := full.findall(text) + spelt.findall(text))
    ]
    assert where == [f"{TABLE.relative_to(REPO_ROOT)}: 1"], (
        f"{family.name} must be spelt once, in the metric table; use the family's constant"
    )


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_names_follow_the_naming_guide(family: Family) -> None:
    assert re.fullmatch(rf"{NAMESPACE}_[a-z0-9_]+", family.name)
    assert family.name.endswith("_total") == (family.type is Type.COUNTER)
    base = family.name.removesuffix("_total")
    if family.unit:
        assert base.endswith(UNITS[family.unit]) or base.endswith(f"{UNITS[family.unit]}_total"), (
            f"{family.name} does not end in its unit"
        )
    assert all(LABEL.fullmatch(label) for label in family.labels)
    assert "type" not in family.labels and "team" not in family.labels
    assert "endpoint" not in family.labels, "the Prometheus Operator's target label"
    assert set(family.fixed_for_sum) <= set(family.labels)
    assert family.help.endswith("."), "help texts are sentences"
    assert bool(family.buckets) == (family.type is Type.HISTOGRAM)
    assert list(family.buckets) == sorted(family.buckets)


def test_mirrored_families_are_gauges() -> None:
    for family in FAMILIES:
        if family.replicas is Replicas.MAX:
            assert family.type is Type.GAUGE, f"{family.name}: replicas add up counters"


def test_names_are_unique_and_a_family_constant_is_a_family() -> None:
    names = [family.name for family in FAMILIES]
    assert len(names) == len(set(names))
    series = [s for family in FAMILIES for s in family.series_names]
    assert len(series) == len(set(series)), "a histogram's _count collides with a counter"


def test_help_says_which_labels_to_fix_before_summing() -> None:
    assert metrics.REPORT_COST.full_help.endswith("Sum only with report, cost_type fixed.")
    assert metrics.CREDITS_BALANCE.full_help == metrics.CREDITS_BALANCE.help


def test_a_family_builds_only_its_own_type() -> None:
    with pytest.raises(TypeError, match="is a gauge, not a counter"):
        metrics.CREDITS_BALANCE.counter()


def test_generation_families_start_with_the_labels_observations_share() -> None:
    """The observer builds these families' label pairs from one shared prefix."""
    built_from_the_prefix = (
        metrics.GENERATION_COST,
        metrics.GENERATION_TIME_TO_FIRST_TOKEN,
        metrics.GENERATION_DURATION,
        metrics.GENERATION_TOKENS,
        metrics.GENERATION_REQUESTS,
    )
    for family in built_from_the_prefix:
        assert family.labels[: len(GENERATION_LABELS)] == GENERATION_LABELS, family.name
