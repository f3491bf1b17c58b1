"""A hostile upstream: records whose model, provider and finish reason no label value can hold
(a lone surrogate, control characters, quotes, 100,000 characters). Every scrape keeps working
in both formats, before and after a restart, and the values are published made safe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from exporter import metrics
from exporter.labels import MAX_LENGTH
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-hostile-0123456789"
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def scrape_both(exp: ExporterProcess) -> list[dict[str, str]]:
    """Both formats parse; the labels of every generation request series."""
    text = httpx.get(f"{exp.url}/metrics", timeout=10)
    assert text.status_code == 200
    om = httpx.get(f"{exp.url}/metrics", headers={"Accept": OPENMETRICS}, timeout=10)
    assert om.status_code == 200
    list(parse_om(om.text))  # type: ignore[no-untyped-call]
    return [
        sample.labels
        for family in text_string_to_metric_families(text.text)
        for sample in family.samples
        if sample.name == metrics.GENERATION_REQUESTS.name
    ]


def test_hostile_records_never_break_a_scrape(
    tmp_path: Path,
    simulator_factory: Callable[..., SimulatorProcess],
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    sim = simulator_factory("--ready-delay=0")
    args = ["--lookup.initial-delay=0s", f"--state.path={tmp_path / 'state.db'}"]
    env = {"AI_GATEWAY_API_KEY": KEY}
    exp = exporter_factory(sim.url, *args, env=env)
    ids = sim.control("generations", {"count": 5}, key=KEY)["ids"]
    sim.fault("hostile_strings", endpoints=["generation"])
    assert httpx.post(f"{exp.url}/generations", json={"ids": ids}, timeout=10).status_code == 202
    exp.wait_looked_up(5, 20)
    labels = scrape_both(exp)
    assert labels, "the generations are published"
    for series in labels:
        for value in series.values():
            assert value.isprintable() and len(value) <= MAX_LENGTH, value
    assert any("\ufffd" in series["model"] for series in labels), "the surrogate, replaced"
    assert exp.stop() == 0
    exp = exporter_factory(sim.url, *args, env=env)
    after = scrape_both(exp)
    assert sorted(map(sorted, (x.items() for x in after))) == sorted(
        map(sorted, (x.items() for x in labels))
    ), "the same series after a restart"
