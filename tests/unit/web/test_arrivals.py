"""The landing page answers "are my applications' generations arriving?": per team and intake
path, the last hour's IDs and the last arrival (in memory), and the totals, pending, counted
and abandoned IDs (from the state file), in process with a fake clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from exporter import routes
from exporter.assembly import Components
from exporter.clock import FakeClock
from exporter.generations import otlp
from exporter.generations.activity import (
    INTAKE_PATHS,
    Activity,
    Arrivals,
    PathArrivals,
    TeamArrivals,
    collect_arrivals,
)
from exporter.generations.mirror import SeriesMirror
from exporter.generations.operations import Resolve
from exporter.generations.series import ABANDON_REASONS, SeriesKey, SeriesValue
from exporter.metrics import GENERATION_IDS_RECEIVED
from exporter.web.landing import SENDING_DOCS, SENDING_TRACES_ANCHOR, landing_page
from tests.support.ids import FAKE_NOW, gen_id
from tests.support.inprocess import built, serving
from tests.support.landing import arrival_rows as read
from tests.support.processes import REPO_ROOT
from tests.unit.test_docs import anchors

KEY = "vck_" + "k" * 40
IDS = [gen_id(f"5FA{c}") for c in "ABCDEFGH"]


@pytest.fixture
def exporter(tmp_path: Path) -> Components:
    return built(tmp_path)


@pytest.fixture
async def client(exporter: Components) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(exporter) as client:
        yield client


def clock(exporter: Components) -> FakeClock:
    assert isinstance(exporter.clock, FakeClock)
    return exporter.clock


async def test_before_anything_arrives_one_sentence_says_how_to_send_ids(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get(routes.LANDING)).text
    sentence = re.search(r'<p class="nothing-yet">(.*?)</p>', page)
    assert sentence is not None
    assert "No generation IDs have arrived for team default yet" in sentence.group(1)
    assert f'href="{SENDING_DOCS}"' in sentence.group(1)
    assert f'href="{SENDING_DOCS}#{SENDING_TRACES_ANCHOR}"' in sentence.group(1)
    assert "since this exporter started (2027-01-15 08:00:00 UTC)" in page
    assert f"<code>{routes.TRACES}</code>" in page, "the links name the trace intake too"
    rows = read(page)
    for intake in INTAKE_PATHS:
        assert rows[("arrivals", "default", intake)][1:] == ["0", "never", "0", "0", "0", "0"]
    assert rows[("outcomes", "default", "pending")][1] == "0"
    assert rows[("outcomes", "default", "counted")][1] == "0"
    for reason in ABANDON_REASONS:
        assert rows[("outcomes", "default", f"abandoned:{reason}")][1] == "0", reason


def test_the_links_lead_to_the_sections_that_say_how() -> None:
    docs = REPO_ROOT / "docs" / "generations.md"
    assert SENDING_DOCS.endswith("/blob/main/docs/generations.md")
    assert SENDING_TRACES_ANCHOR in anchors(docs)


async def test_an_intake_request_shows_as_received_with_its_time_and_results(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    clock(exporter).advance(5)
    stale, future = gen_id(1, FAKE_NOW - 8 * 86400), gen_id(2, FAKE_NOW + 3600)
    sent = [IDS[0], IDS[1], IDS[0], "junk", stale, future]
    resp = await client.post(routes.GENERATIONS, json={"ids": sent})
    assert resp.status_code == 202
    reasons = {item["id"]: item["reason"] for item in resp.json()["rejected"]}
    assert reasons[stale].startswith("made before the dedup retention")
    assert reasons[future].startswith("made later than now")
    clock(exporter).advance(42)
    page = (await client.get(routes.LANDING)).text
    assert 'class="nothing-yet"' not in page
    rows = read(page)
    http = rows[("arrivals", "default", "http")]
    assert http == [
        "POST /generations",
        "6",
        "2027-01-15 08:00:05 UTC (42s ago)",
        "2",
        "1",
        "1",
        "2",
    ]
    assert rows[("arrivals", "default", "otlp")][1:3] == ["0", "never"]
    assert rows[("outcomes", "default", "pending")][1] == "2"


async def test_each_intake_path_is_its_own_row(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    intake = exporter.generations.intake
    await intake.accept("default", IDS[:3], "follow")
    await intake.accept("default", IDS[2:4], otlp.INTAKE_PATH)
    rows = read((await client.get(routes.LANDING)).text)
    follow = rows[("arrivals", "default", "follow")]
    assert [follow[1], *follow[3:]] == ["3", "3", "0", "0", "0"]
    traces = rows[("arrivals", "default", otlp.INTAKE_PATH)]
    assert traces[0] == f"POST {routes.TRACES}"
    assert [traces[1], *traces[3:]] == ["2", "1", "1", "0", "0"], "one was a duplicate"
    assert rows[("arrivals", "default", "http")][1:3] == ["0", "never"]


async def test_the_hour_forgets_old_minutes_but_the_totals_and_last_arrival_stay(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    await client.post(routes.GENERATIONS, json={"ids": IDS[:3]})
    clock(exporter).advance(30 * 60)
    await client.post(routes.GENERATIONS, json={"ids": IDS[3:4]})
    assert read((await client.get(routes.LANDING)).text)[("arrivals", "default", "http")][1] == "4"
    clock(exporter).advance(31 * 60)
    http = read((await client.get(routes.LANDING)).text)[("arrivals", "default", "http")]
    assert http[1] == "1", "the first three arrived 61 minutes ago"
    assert http[2] == "2027-01-15 08:30:00 UTC (31 min ago)"
    assert http[3] == "4"
    clock(exporter).advance(60 * 60)
    http = read((await client.get(routes.LANDING)).text)[("arrivals", "default", "http")]
    assert http[1:3] == ["0", "2027-01-15 08:30:00 UTC (91 min ago)"]


async def test_a_wall_clock_jump_moves_no_count(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    await client.post(routes.GENERATIONS, json={"ids": IDS[:2]})
    clock(exporter).jump(2 * 3600)  # NTP sets the wall clock forward: an hour passed for nobody
    http = read((await client.get(routes.LANDING)).text)[("arrivals", "default", "http")]
    assert http[1] == "2"
    assert http[2].endswith("(0s ago)")


async def test_counted_and_abandoned_come_from_what_was_committed(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    await client.post(routes.GENERATIONS, json={"ids": IDS[:4]})
    pipeline = exporter.generations
    due = pipeline.store.due("default", clock(exporter).steady() + 3600, 10)
    assert len(due) == 4
    await pipeline.writer.submit(Resolve(due[0], "found"))
    await pipeline.writer.submit(Resolve(due[1], "found"))
    await pipeline.writer.submit(Resolve(due[2], "pending", abandoned="max_age"))
    rows = read((await client.get(routes.LANDING)).text)
    assert rows[("outcomes", "default", "pending")] == ["Pending lookup", "1"]
    assert rows[("outcomes", "default", "counted")] == ["Counted (found)", "2"]
    assert rows[("outcomes", "default", "abandoned:max_age")] == ["Abandoned: max_age", "1"]
    assert rows[("outcomes", "default", "abandoned:not_found")][1] == "0"


def test_teams_are_kept_apart_and_unknown_paths_and_reasons_are_listed_too() -> None:
    clock = FakeClock()
    activity = Activity(clock)
    activity.record("prod", "http", 3)
    activity.record("prod", "batch", 1)  # an intake path this page does not know by name
    activity.record("dev", "otlp", 0)  # nothing: no arrival to show
    mirror = SeriesMirror()
    key = SeriesKey(
        GENERATION_IDS_RECEIVED.name,
        (("vercel_team", "dev"), ("intake", "follow"), ("result", "accepted")),
    )
    mirror.values[key] = SeriesValue().add(Decimal(7))
    mirror.pending = {"dev": 7}
    shown = collect_arrivals(mirror, activity, ["prod", "dev"], {"dev": "spans without IDs"})
    prod, dev = shown.teams
    assert [p.intake for p in prod.paths] == [*INTAKE_PATHS, "batch"]
    prod_paths = {p.intake: p for p in prod.paths}
    dev_paths = {p.intake: p for p in dev.paths}
    assert (prod_paths["http"].last_hour, prod_paths["batch"].last_hour) == (3, 1)
    assert prod.pending == 0 and not prod.nothing_yet
    assert dev_paths["follow"].accepted == 7 and dev.pending == 7 and not dev.nothing_yet
    assert dev_paths["otlp"].last_arrival is None, "a record of zero IDs is no arrival"
    assert (prod.unseen, dev.unseen) == (None, "spans without IDs")


def test_what_the_page_prints_is_escaped() -> None:
    hostile = '<script>alert("x")</script>'
    path = PathArrivals(hostile, 1, 0.0, 1.0, 1, 0, 0)
    team = TeamArrivals(hostile, (path,), 0, 0, 0, ((hostile, 1),), unseen=hostile)
    page = landing_page(routes.DEFAULT_METRICS, [], arrivals=Arrivals(0.0, (team,)))
    assert "<script>" not in page
    assert '<p class="unseen">&lt;script&gt;' in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_the_otlp_intake_is_one_of_the_paths_listed() -> None:
    assert otlp.INTAKE_PATH in INTAKE_PATHS
