"""What a live exporter publishes is exactly the metric table, no more and no less.

Demo mode runs every optional source (reports and budgets against the in-process simulator),
so a scrape of it declares every family the exporter can publish. Each family must be in
exporter/metrics.py with the same type, help and labels, and each family in the table must
be declared, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics import (
    ATTRIBUTION_INFO,
    BUDGET_LIMIT,
    BY_NAME,
    CREDITS_BALANCE,
    GENERATION_REQUESTS,
    MODEL_TOKEN_PRICE,
    NAMESPACE,
    REPORT_COST,
    REPORT_TOKENS,
    SOURCE_UP,
    Type,
)
from tests.support.processes import ManagedProcess, exporter_command, free_port, wait_until


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir: Path = tmp_path_factory.mktemp("contract")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    demo = ManagedProcess(
        exporter_command("--demo", f"--web.listen-address=127.0.0.1:{port}"),
        workdir / "exporter.log",
    )
    try:
        demo.wait_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        needed = (GENERATION_REQUESTS.name, REPORT_COST.name, BUDGET_LIMIT.name)
        wait_until(
            lambda: all(f"\n{name}{{" in httpx.get(url, timeout=5).text for name in needed),
            timeout=60,
            what="generations, reports and budgets in the demo",
        )
        yield httpx.get(url, timeout=5).text
    finally:
        demo.stop()


def test_the_declared_families_are_the_table(exposition: str) -> None:
    declared = {}
    attribution = {
        sample.labels["label"]
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == ATTRIBUTION_INFO.name
    }
    assert attribution == {"feature"}, "the demo attributes generations to a feature"
    for family in text_string_to_metric_families(exposition):
        name = family.name + ("_total" if family.type == "counter" else "")
        if name.startswith(f"{NAMESPACE}_"):
            declared[name] = family
    assert set(declared) == set(BY_NAME), "published and tabled families differ"
    for name, family in declared.items():
        entry = BY_NAME[name]
        assert family.type == entry.type.value, name
        assert family.documentation.startswith(entry.full_help), name
        required = set(entry.labels) | (attribution if entry.attributed else set())
        allowed = required | entry.optional_labels
        if entry.type is Type.HISTOGRAM:
            allowed.add("le")
        for sample in family.samples:
            assert required <= set(sample.labels) <= allowed, (name, sample.labels)


def test_every_source_publishes_its_health_and_values(exposition: str) -> None:
    samples = [
        sample for family in text_string_to_metric_families(exposition) for sample in family.samples
    ]
    sources = {s.labels["source"]: s.value for s in samples if s.name == SOURCE_UP.name}
    assert sources == {
        "credits": 1.0,
        "reports": 1.0,
        "budgets": 1.0,
        "catalog": 1.0,
        "providers": 1.0,
    }
    present = {s.name for s in samples}
    for family in (CREDITS_BALANCE, REPORT_COST, REPORT_TOKENS, BUDGET_LIMIT, MODEL_TOKEN_PRICE):
        assert family.name in present, family.name
    token_types = {s.labels["token_type"] for s in samples if s.name == REPORT_TOKENS.name}
    assert token_types <= {"input", "output", "reasoning", "cache_read", "cache_write"}
