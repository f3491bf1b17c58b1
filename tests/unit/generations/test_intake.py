"""Intake's ID window: an ID made before the dedup retention or after now is refused as stale
or future on every path (push, log, spans), counted, and never looked up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import routes
from exporter.assembly import Components
from exporter.clock import FakeClock
from exporter.generations.idcodec import created_at
from exporter.generations.intake import CLOCK_SKEW
from exporter.metrics import GENERATION_IDS_RECEIVED, GENERATION_QUEUE_LENGTH
from tests.support.ids import FAKE_NOW, gen_id
from tests.support.inprocess import built, serving
from tests.support.otlp import do_generate, request

RETENTION = 2 * 86400.0
QUEUE = GENERATION_QUEUE_LENGTH.name
STALE = gen_id(1, FAKE_NOW - RETENTION - 1)
FUTURE = gen_id(2, FAKE_NOW + CLOCK_SKEW + 1)
OLDEST = gen_id(3, FAKE_NOW - RETENTION)  # the edges are inside the window
NEWEST = gen_id(4, FAKE_NOW + CLOCK_SKEW)


def test_an_ids_time_is_its_ulids_first_48_bits() -> None:
    assert created_at("gen_01ARYZ6S41TSV4RRFFQ69G5FAV") == 1469918176.385  # the ULID spec's
    assert created_at(gen_id("ZZZZ", 1_700_000_000.25)) == 1_700_000_000.25
    assert created_at("gen_" + "Z" * 26) > 2**48 / 1000 - 1, "above the ULID range: the future"


@pytest.fixture
def exporter(tmp_path: Path) -> Components:
    return built(tmp_path, {"state.dedup_retention": "2d"})


@pytest.fixture
async def client(exporter: Components) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(exporter) as client:
        yield client


async def received(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    text = (await client.get(routes.DEFAULT_METRICS)).text
    return {
        (s.labels["intake"], s.labels["result"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == GENERATION_IDS_RECEIVED.name
    }


def pending(exporter: Components) -> set[str]:
    steady = exporter.clock.steady() + 86400
    return {row.id for row in exporter.generations.store.due("default", steady, 100)}


async def test_a_push_refuses_stale_and_future_ids_and_says_why(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    answer = await client.post(routes.GENERATIONS, json={"ids": [STALE, OLDEST, NEWEST, FUTURE]})
    assert answer.status_code == 202
    body = answer.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [item["id"] for item in body["rejected"]] == [STALE, FUTURE]
    assert "--state.dedup-retention" in body["rejected"][0]["reason"]
    assert pending(exporter) == {OLDEST, NEWEST}, "never looked up"
    counts = await received(client)
    assert counts[("http", "stale")] == counts[("http", "future")] == 1


async def test_spans_and_the_log_follower_refuse_them_too(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    spans = request([do_generate(STALE), do_generate(OLDEST), do_generate(FUTURE)])
    answer = await client.post(
        routes.TRACES,
        content=spans.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
    )
    assert answer.status_code == 200
    intake = exporter.generations.intake
    taken = await intake.accept("default", [STALE, NEWEST], "follow")
    assert (taken.accepted, taken.refused) == (1, ((STALE, "stale"),))
    assert pending(exporter) == {OLDEST, NEWEST}
    counts = await received(client)
    assert (counts[("otlp", "stale")], counts[("otlp", "future")]) == (1, 1)
    assert (counts[("follow", "stale")], counts[("follow", "accepted")]) == (1, 1)


async def test_the_window_moves_with_the_clock(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    intake = exporter.generations.intake
    assert (await intake.accept("default", [FUTURE], "http")).refused == ((FUTURE, "future"),)
    assert isinstance(exporter.clock, FakeClock)
    exporter.clock.advance(3600)
    assert (await intake.accept("default", [FUTURE], "http")).accepted == 1


async def test_ids_stranded_under_a_renamed_team_are_shown_and_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: renaming a team left its pending IDs unlooked-up forever with no metric, and
    sending them again under the new name counted them as duplicates (0 counted)."""

    def exporter_of(name: str) -> Components:
        file = tmp_path / f"{name}.yaml"
        file.write_text(f"teams:\n  - name: {name}\n    api_key_env: AI_GATEWAY_API_KEY\n")
        return built(tmp_path, config_file=file)

    old = exporter_of("prod")
    ids = [gen_id(n) for n in range(3)]
    async with serving(old):
        assert (await old.generations.intake.accept("prod", ids, "http")).accepted == 3

    with caplog.at_level("WARNING"):
        new = exporter_of("production")
    assert any("3 IDs are pending for team 'prod'" in r.getMessage() for r in caplog.records)
    async with serving(new) as client:
        text = (await client.get(routes.DEFAULT_METRICS)).text
        assert f'{QUEUE}{{vercel_team="prod"}} 3.0' in text
        taken = await new.generations.intake.accept("production", ids[:2], "http")
        assert (taken.accepted, taken.duplicates) == (2, 0), "taken over, not duplicates"
        text = (await client.get(routes.DEFAULT_METRICS)).text
        due = new.generations.store.due("production", new.clock.steady() + 86400, 10)
    assert f'{QUEUE}{{vercel_team="prod"}} 1.0' in text
    assert f'{QUEUE}{{vercel_team="production"}} 2.0' in text
    assert sorted(row.id for row in due) == ids[:2]
