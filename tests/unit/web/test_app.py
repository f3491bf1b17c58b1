"""The exporter's app in process, wired as the service wires it: landing page, probes, metrics
and the OpenAPI document, with a fake clock and no upstream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import routes
from exporter.assembly import Components, build
from exporter.clock import FakeClock
from exporter.config import load_config
from exporter.gateway.errors import MisdirectedError
from exporter.gateway.models import Credits
from exporter.metrics import CREDITS_BALANCE, SOURCE_UP
from exporter.sources.credits import Snapshot, credits_poller
from exporter.teams import resolve_teams
from tests.support.ids import gen_id

KEY = "vck_" + "k" * 40


@pytest.fixture
def exporter(tmp_path: Path) -> Components:
    config = load_config(None, {}, {"state.path": str(tmp_path / "state.db")})
    return build(config, resolve_teams(config, {"AI_GATEWAY_API_KEY": KEY}), FakeClock())


@pytest.fixture
async def client(exporter: Components) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await exporter.generations.close()


def refreshed(exporter: Components, balance: str) -> None:
    """What a successful credits poll leaves behind."""
    state = exporter.credits.teams["default"]
    state.snapshot = Snapshot(Credits(Decimal(balance), Decimal(1)), exporter.clock.monotonic())
    state.health.succeeded(exporter.clock.time())


async def test_not_ready_until_credits_were_tried_then_ready(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    waiting = await client.get(routes.READYZ)
    assert waiting.status_code == 503
    assert waiting.json() == {"ready": False, "waiting_for": ["default"]}
    assert (await client.get(routes.HEALTHZ)).text == "ok\n"
    refreshed(exporter, "12.5")
    assert (await client.get(routes.READYZ)).json() == {"ready": True}


async def test_the_landing_page_shows_each_team_its_state_and_the_links(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    page = (await client.get(routes.LANDING)).text
    assert "<td>default</td><td>starting</td><td>never</td>" in page
    refreshed(exporter, "12.5")
    exporter.clock.advance(30)  # type: ignore[attr-defined]
    page = (await client.get(routes.LANDING)).text
    assert "<td>default</td><td>up</td><td>30s ago</td><td>balance 12.5 USD</td>" in page
    for link in (routes.DEFAULT_METRICS, routes.HEALTHZ, routes.READYZ, routes.OPENAPI):
        assert f'href="{link}"' in page
    exporter.credits.teams["default"].health.failed("<script>alert(1)</script> 503")
    page = (await client.get(routes.LANDING)).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 503" in page, "upstream text is escaped"
    assert "<td>default</td><td>down</td>" in page


async def test_metrics_follow_the_source_state(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    def sample(body: str, name: str, **labels: str) -> float | None:
        for family in text_string_to_metric_families(body):
            for s in family.samples:
                if s.name == name and labels.items() <= s.labels.items():
                    return s.value
        return None

    body = (await client.get(routes.DEFAULT_METRICS)).text
    assert sample(body, SOURCE_UP.name, vercel_team="default", source="credits") == 0
    assert sample(body, CREDITS_BALANCE.name) is None, "nothing before the first answer"
    refreshed(exporter, "12.5")
    body = (await client.get(routes.DEFAULT_METRICS)).text
    assert sample(body, SOURCE_UP.name, vercel_team="default", source="credits") == 1
    assert sample(body, CREDITS_BALANCE.name, vercel_team="default") == 12.5
    gzipped = await client.get(routes.DEFAULT_METRICS, headers={"Accept-Encoding": "gzip"})
    assert gzipped.headers["content-encoding"] == "gzip"


async def test_the_openapi_document_names_every_fixed_route(client: httpx.AsyncClient) -> None:
    document = (await client.get(routes.OPENAPI)).json()
    assert set(document["paths"]) == routes.FIXED | {routes.DEFAULT_METRICS}


@pytest.fixture
async def writing(exporter: Components) -> AsyncIterator[None]:
    """The state writer running, as the service runs it (intake waits for its commit)."""
    task = asyncio.create_task(exporter.generations.writer.run())
    yield
    task.cancel()


GOOD_ID = gen_id("5FAV")


@pytest.mark.usefixtures("writing")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            '{"ids": ["' + GOOD_ID + '", "gen_\\ud800"]}',
            "ids[1] holds a lone UTF-16 surrogate, which is not text",
        ),
        ('{"ids": ["' + GOOD_ID + '"], "team": "\\udfff"}', '"team" holds a lone UTF-16'),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=["surrogate in an ID", "surrogate in the team", "deep nesting"],
)
async def test_a_body_that_is_no_text_is_refused_whole(
    exporter: Components, client: httpx.AsyncClient, body: str, error: str
) -> None:
    resp = await client.post(
        routes.GENERATIONS, content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert error in resp.json()["error"]
    assert exporter.generations.mirror.pending.get("default", 0) == 0, "nothing stored"
    stored = await client.post(routes.GENERATIONS, json={"ids": [GOOD_ID]})
    assert stored.status_code == 202 and stored.json()["accepted"] == 1


@pytest.mark.usefixtures("writing")
async def test_rejected_values_are_echoed_safely(client: httpx.AsyncClient) -> None:
    resp = await client.post(routes.GENERATIONS, json={"ids": [GOOD_ID, 'x"\n<b>' * 40]})
    assert resp.status_code == 202
    assert resp.json()["accepted"] == 1
    assert len(resp.json()["rejected"][0]["id"]) == 64


async def test_a_key_quoted_back_by_upstream_never_reaches_the_page(
    exporter: Components, client: httpx.AsyncClient
) -> None:
    exporter.credits.teams["default"].health.failed(f"invalid API key {KEY} for this team")
    page = (await client.get(routes.LANDING)).text
    assert KEY not in page
    assert "invalid API key [REDACTED] for this team" in page


class Answers:
    """A credits client answering from a script."""

    def __init__(self, *answers: Exception) -> None:
        self.answers = list(answers)

    async def credits(self) -> Credits:
        raise self.answers.pop(0)


async def test_a_url_that_leads_to_no_api_is_said_once_and_named_by_readyz(
    exporter: Components, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    message = (
        "gateway.url https://vercel.com does not lead to the API: GET /v1/credits answered 404 "
        "(an HTML page); expected a URL such as https://ai-gateway.vercel.sh"
    )
    wrong = MisdirectedError(message, status=404)
    state = exporter.credits.teams["default"]
    poller = credits_poller(Answers(wrong, wrong), state, 60, exporter.clock)
    caplog.set_level(logging.DEBUG, logger="exporter.sources.polling")
    await poller.refresh()
    await poller.refresh()
    assert [r.message for r in caplog.records if r.levelno >= logging.ERROR] == [message]
    ready = await client.get(routes.READYZ)
    assert ready.status_code == 200, "intake keeps storing IDs, as with a rejected key"
    assert ready.json() == {"ready": True, "misconfigured": {"default": message}}
    assert "<td>default</td><td>misconfigured</td>" in (await client.get(routes.LANDING)).text
    refreshed(exporter, "12.5")
    assert (await client.get(routes.READYZ)).json() == {"ready": True}
