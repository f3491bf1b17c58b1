"""Attribution labels: configured, bounded, stored with each ID, and published on the
generation families only."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter import routes
from exporter.assembly import build
from exporter.clock import FakeClock
from exporter.config import AttributionConfig, ConfigError, load_config
from exporter.gateway.models import Generation
from exporter.generations.attribution import Attribution
from exporter.generations.collector import GenerationsCollector
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.operations import AddIds
from exporter.generations.series import SeriesValue
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter
from exporter.metrics import GENERATION_REQUESTS
from exporter.teams import resolve_teams
from exporter.web.otlp import PROTOBUF
from tests.support.ids import gen_id
from tests.support.otlp import do_generate, request, span

A, B = gen_id("5FAA"), gen_id("5FAB")


def config(*labels: str, max_values: int = 20) -> AttributionConfig:
    return AttributionConfig(labels=list(labels), max_values=max_values)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("model=field:model", "'model' is a label the exporter or Prometheus already uses"),
        ("vercel_team=field:t", "'vercel_team' is a label the exporter or Prometheus"),
        ("job=span:service.name", "'job' is a label the exporter or Prometheus"),
        ("Feature=field:feature", "'Feature' is not a Prometheus label name"),
        ("__x=field:x", "'__x' is not a Prometheus label name"),
    ],
)
def test_a_label_that_would_collide_or_is_no_label_is_refused(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Attribution(config(entry))


def test_a_source_of_another_shape_is_refused_with_the_key_named() -> None:
    with pytest.raises(ConfigError, match=r"attribution.labels: .*LABEL=span:ATTRIBUTE"):
        load_config(None, {}, {"attribution.labels": ["feature=header:x"]})


def test_values_are_bounded_safe_and_none_when_missing() -> None:
    attribution = Attribution(config("feature=field:feature", "customer=field:c", max_values=2))
    stored = [attribution.from_fields({"feature": f}) for f in ("chat", "search", "batch")]
    assert [attribution.pairs(s)[0] for s in stored] == [
        ("feature", "chat"),
        ("feature", "search"),
        ("feature", "other"),
    ]
    assert attribution.pairs(stored[0])[1] == ("customer", "none")
    assert attribution.pairs(attribution.from_fields({"c": "a\nb"}))[1] == ("customer", "a\ufffdb")


def test_values_known_before_a_restart_stay_admitted() -> None:
    attribution = Attribution(
        config("feature=field:feature", max_values=1), {"feature": ["search"]}
    )
    assert attribution.pairs(attribution.from_fields({"feature": "chat"})) == (
        ("feature", "other"),
    )
    assert attribution.pairs(attribution.from_fields({"feature": "search"})) == (
        ("feature", "search"),
    )


def test_only_the_generation_families_carry_the_labels_and_old_series_are_not_published() -> None:
    attribution = Attribution(config("feature=field:feature"))
    observer = Observer(LabelLimiter(9), LabelLimiter(9), LabelLimiter(9), attribution=attribution)
    gen = Generation(id=A, model="m", provider_name="p", total_cost=Decimal("0.01"))
    mirror = SeriesMirror()
    for d in observer.deltas("prod", gen, attribution.from_fields({"feature": "chat"})):
        names = [name for name, _ in d.labels]
        assert ("feature" in names) == d.metric.attributed, d.metric.name
        mirror.values[d.key] = SeriesValue(1, d.value)
    before = Observer(LabelLimiter(9), LabelLimiter(9), LabelLimiter(9))
    for d in before.deltas("prod", gen):  # stored before the label was configured
        mirror.values[d.key] = SeriesValue(7, d.value)
    registry = CollectorRegistry()
    registry.register(GenerationsCollector(mirror, ["prod"], attribution.names, "help"))
    requests = [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith(GENERATION_REQUESTS.name)
    ]
    assert len(requests) == 1 and 'feature="chat"' in requests[0], requests


async def test_values_sent_with_ids_are_stored_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store, mirror = Store(path), SeriesMirror()
    writer = StateWriter(store, mirror, FakeClock())
    task = asyncio.create_task(writer.run())
    attribution = Attribution(config("feature=field:feature"))
    stored = attribution.from_fields({"feature": "chat"})
    await writer.submit(AddIds("prod", "http", [A], 0.0, attributes=stored))
    task.cancel()
    store.close()
    (row,) = Store(path).due("prod", 10.0, 10)
    assert attribution.pairs(row.attributes) == (("feature", "chat"),)


def test_a_huge_value_is_cut_before_it_is_stored_with_each_id() -> None:
    """A 466 KB value pushed with 10,000 IDs wrote 1.6 GB to the state file."""
    attribution = Attribution(config("feature=field:feature", "step=span:ai.step"))
    huge = "x" * 466_000
    stored = attribution.from_fields({"feature": huge})
    assert len(stored) < 200
    traced = span("s", {"ai.step": huge})
    assert len(attribution.from_span(traced, [])) < 200
    assert attribution.pairs(stored) == (("feature", "x" * 127 + "…"), ("step", "none"))


KEY = "vck_" + "k" * 40


async def test_post_and_trace_intake_take_the_values_from_where_the_config_says(
    tmp_path: Path,
) -> None:
    cfg = load_config(
        None,
        {},
        {
            "state.path": str(tmp_path / "state.db"),
            "attribution.labels": [
                "feature=field:feature",
                "feature=span:ai.telemetry.functionId",
            ],
        },
    )
    exp = build(cfg, resolve_teams(cfg, {"AI_GATEWAY_API_KEY": KEY}), FakeClock())
    task = asyncio.create_task(exp.generations.writer.run())
    transport = httpx.ASGITransport(app=exp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        posted = await client.post(
            routes.GENERATIONS, json={"id": A, "attributes": {"feature": "chat", "x": "y"}}
        )
        assert posted.status_code == 202
        span = do_generate(B)
        span.attributes.add(key="ai.telemetry.functionId").value.string_value = "summarize"
        traced = await client.post(
            routes.TRACES,
            content=request([span]).SerializeToString(),
            headers={"Content-Type": PROTOBUF},
        )
        assert traced.status_code == 200
        bad = await client.post(routes.GENERATIONS, json={"id": A, "attributes": {"f": 1}})
        assert bad.status_code == 400 and "object of strings" in bad.json()["error"]
    rows = {row.id: row for row in exp.generations.store.due("default", 1e12, 10)}
    attribution = exp.generations.attribution
    assert attribution is not None
    assert attribution.pairs(rows[A].attributes) == (("feature", "chat"),)
    assert attribution.pairs(rows[B].attributes) == (("feature", "summarize"),)
    task.cancel()
    await exp.generations.close()
