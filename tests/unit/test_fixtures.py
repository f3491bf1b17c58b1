"""Every documented and recorded payload (tests/fixtures/gateway/) through the exporter's
parsers and through the simulator, so neither can drift from the sources or from each other.

For each payload: the exporter's client reads it (an error class, or the values the file
expects); the simulator is asked for the same case and must answer with the same status and
shape (every field of the payload, with the same JSON type; for errors the same envelope and
type); and that answer is read by the client too, with the same outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.gateway.api import ApiClient
from exporter.gateway.budgets_client import BudgetsClient
from exporter.gateway.budgets_models import BudgetList
from exporter.gateway.catalog_client import CatalogClient
from exporter.gateway.catalog_models import (
    ENDPOINT_PRICE_FIELDS,
    MODEL_PRICE_FIELDS,
    UNREAD_ENDPOINT_PRICES,
    UNREAD_MODEL_PRICES,
    WEB_SEARCH_FIELD,
    ModelList,
    ProviderEndpoint,
)
from exporter.gateway.client import GatewayClient
from exporter.gateway.errors import GatewayError
from exporter.gateway.keys import StaticKey
from exporter.gateway.models import (
    REPORT_COUNT_FIELDS,
    REPORT_MONEY_FIELDS,
    Credits,
    Generation,
    ReportRow,
)
from exporter.gateway.retry import RetryPolicy
from exporter.metrics import ApiMetrics
from exporter.simulator.app import Simulator, create_app
from exporter.simulator.faults import Fault
from exporter.simulator.world import SimGeneration

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "gateway").glob("*.json"))
KEY = "sk-fixture-key-0123456789"
VERCEL_TOKEN = "vercel-fixture-token-0123"
TEAM = "prod"
ANY_ID = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"  # the mocked answer is the same for every ID
PATHS = {
    "credits": "/v1/credits",
    "generation": "/v1/generation",
    "report": "/v1/report",
    "budgets": "/ai-gateway/budgets/list",
    "models": "/v1/models",
    # A recorded model the simulator does not serve is asked of one with the same shapes.
    "model_endpoints": "/v1/models/openai/gpt-5.4/endpoints",
}
METRIC_FIELDS = frozenset((*REPORT_MONEY_FIELDS, *REPORT_COUNT_FIELDS))
C = TypeVar("C", bound=ApiClient)


@dataclass(frozen=True)
class Answer:
    status: int
    content: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.content)


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    assert {"source", "endpoint", "status", "expect", "simulator"} <= set(case), path.name
    assert ("body" in case) != ("text" in case), f"{path.name}: a body or a text"
    return case


def fixture_answer(case: dict[str, Any]) -> Answer:
    headers = dict(case.get("headers", {}))
    if "body" in case:
        content = json.dumps(case["body"]).encode()
        headers.setdefault("content-type", "application/json")
    else:
        content = case["text"].encode()
        headers["content-type"] = case["content_type"]
    return Answer(case["status"], content, headers)


# --- the exporter's side ------------------------------------------------------------------------


async def read(case: dict[str, Any], answer: Answer) -> object:
    """What the exporter's client makes of ``answer`` (a record, a list or a GatewayError)."""

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(answer.status, content=answer.content, headers=answer.headers)

    def client(kind: type[C], team: str = TEAM, keyed: bool = True) -> C:
        return kind(
            team,
            "https://gateway.test",
            StaticKey(KEY) if keyed else None,
            ApiMetrics(CollectorRegistry()),
            retry=RetryPolicy(attempts=1),
            transport=httpx.MockTransport(respond),
        )

    endpoint = case["endpoint"]
    try:
        if endpoint == "budgets":
            async with aclosing(client(BudgetsClient)) as budgets:
                return await budgets.budgets("team_abc")
        if endpoint in ("models", "model_endpoints"):  # public: no team, no key
            async with aclosing(client(CatalogClient, "", keyed=False)) as catalog:
                if endpoint == "models":
                    return await catalog.models()
                return await catalog.endpoints(case["model"])
        async with aclosing(client(GatewayClient)) as gateway:
            if endpoint == "credits":
                return await gateway.credits()
            if endpoint == "generation":
                return await gateway.generation(ANY_ID)
            query = case.get("query", {})
            return await gateway.report(query, query.get("group_by", "day"))
    except GatewayError as exc:
        return exc


def check_outcome(case: dict[str, Any], outcome: object, where: str) -> None:
    expect = case["expect"]
    if "error" in expect:
        assert type(outcome).__name__ == expect["error"], f"{where}: {outcome!r}"
        return
    assert not isinstance(outcome, GatewayError), f"{where}: {outcome}"
    if where == "simulator":
        return  # the simulator's values are its own; that they parse is the point
    if isinstance(outcome, (Credits, Generation)):
        for attr, value in expect.items():
            got = getattr(outcome, attr)
            assert got == (Decimal(value) if isinstance(got, Decimal) else value), attr
    elif isinstance(outcome, ModelList):
        check_models(expect["models"], outcome)
    elif case["endpoint"] == "model_endpoints":
        assert isinstance(outcome, list)
        check_endpoints(expect["endpoints"], outcome)
    elif isinstance(outcome, BudgetList):
        assert len(outcome.budgets) == expect["budgets"]
        assert sum(outcome.skipped.values()) == expect["skipped"]
        budget = outcome.budgets[0]
        assert (budget.source, budget.byok_included) == (expect["source"], expect["byok_included"])
        if "alert_threshold" in expect:
            assert str(budget.alert_threshold) == expect["alert_threshold"]
    else:
        assert isinstance(outcome, list) and len(outcome) == expect["rows"]
        if outcome:
            row = outcome[0]
            assert isinstance(row, ReportRow)
            assert (row.group, row.hour) == (expect["group"], expect["hour"])
            assert str(row.values["total_cost"]) == expect["total_cost"]


def decimals(values: dict[str, str]) -> dict[str, Decimal]:
    return {key: Decimal(value) for key, value in values.items()}


def check_models(expect: dict[str, Any], outcome: ModelList) -> None:
    """Each model's base price per token type, whether tiered, and its web search price."""
    assert outcome.skipped == 0 and all(m.invalid_fields == () for m in outcome.models)
    got = {
        m.id: ({t: p.base for t, p in m.prices.items()}, m.tiered, m.web_search)
        for m in outcome.models
    }
    assert got == {
        model: (
            decimals(e["prices"]),
            e["tiered"],
            None if e["web_search"] is None else Decimal(e["web_search"]),
        )
        for model, e in expect.items()
    }


def check_endpoints(expect: dict[str, Any], outcome: list[ProviderEndpoint]) -> None:
    """Each provider's published uptime (placeholders left out) and the prices it is read at."""
    assert all(e.invalid_fields == () for e in outcome)
    got = {e.provider: (dict(e.uptime), dict(e.prices)) for e in outcome}
    assert got == {
        provider: (decimals(e["uptime"]), decimals(e["prices"])) for provider, e in expect.items()
    }


# --- the simulator's side -----------------------------------------------------------------------


def simulator() -> tuple[Simulator, dict[tuple[bool, bool], SimGeneration]]:
    """A simulator with one team whose traffic has every kind of generation."""
    sim = Simulator(seed=3, api_keys={KEY: TEAM})
    world = sim.worlds[TEAM]
    kinds: dict[tuple[bool, bool], SimGeneration] = {}
    while len(kinds) < 4:
        gen = sim.generate(world, ready_delay=0.0)
        kinds.setdefault((gen.is_byok, gen.streamed), gen)
    return sim, kinds


def simulated_request(
    case: dict[str, Any], kinds: dict[tuple[bool, bool], SimGeneration], pending: str
) -> tuple[str, dict[str, str], dict[str, str]]:
    """(path, query, headers) asking the simulator for the fixture's case."""
    recipe = case["simulator"]
    endpoint = case["endpoint"]
    key = "sk-no-team-has-this-key-000" if recipe.get("key") == "unknown" else KEY
    headers = {"Authorization": f"Bearer {key}"}
    query: dict[str, str] = {}
    if endpoint == "generation":
        chosen = recipe.get("generation")
        if isinstance(chosen, dict):
            query["id"] = kinds[(chosen["is_byok"], chosen["streamed"])].id
        elif chosen == "pending":
            query["id"] = pending
        elif chosen == "malformed":
            query["id"] = "notaulid"
        elif chosen == "ready":
            query["id"] = next(iter(kinds.values())).id
    elif endpoint == "report":
        query = dict(case["query"])
        if recipe.get("query") != "as given":  # the simulator's traffic is today's
            today = datetime.now(tz=timezone.utc).date().isoformat()
            query.update(start_date=today, end_date=today)
    elif endpoint == "budgets":
        headers = {"Authorization": f"Bearer {VERCEL_TOKEN}"}
        query = {"teamId": TEAM}
    return recipe.get("path", PATHS[endpoint]), query, headers


async def simulated(case: dict[str, Any]) -> Answer:
    sim, kinds = simulator()
    pending = sim.generate(sim.worlds[TEAM], ready_delay=3600.0).id
    recipe = case["simulator"]
    if "plan" in recipe:
        sim.plan = recipe["plan"]
    if "fault" in recipe:
        sim.fault = Fault.from_json(recipe["fault"])
    path, query, headers = simulated_request(case, kinds, pending)
    transport = httpx.ASGITransport(app=create_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        response = await client.get(path, params=query, headers=headers)
    return Answer(response.status_code, response.content, dict(response.headers))


def kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", type(None): "null", dict: "object", list: "array"}[type(value)]


def mismatches(documented: object, simulated: object, where: str = "") -> Iterator[str]:
    """How ``simulated`` fails to have the shape of ``documented``: every field, with its JSON
    type; in a list, a row shaped like each documented row."""
    if kind(documented) != kind(simulated):
        yield f"{where or 'body'}: {kind(simulated)}, documented {kind(documented)}"
    elif isinstance(documented, dict) and isinstance(simulated, dict):
        for key, value in documented.items():
            if key not in simulated:
                yield f"{where}.{key}: missing"
            else:
                yield from mismatches(value, simulated[key], f"{where}.{key}")
    elif isinstance(documented, list) and isinstance(simulated, list):
        for model in documented:  # optional fields differ between rows: one match suffices
            if all(list(mismatches(model, row)) for row in simulated):
                yield f"{where}[]: no row has the shape of {json.dumps(model)[:200]}"


def same_case(case: dict[str, Any], documented: Answer, simulated: Answer) -> None:
    assert simulated.status == documented.status, simulated.content[:300]
    if "text" in case:
        assert "html" in simulated.headers.get("content-type", "")
        return
    body, answer = documented.json(), simulated.json()
    if documented.status >= 400:
        error = body["error"]
        assert set(answer) >= set(body) - {"id", "message"}, answer
        if isinstance(error, dict):  # the nested envelope, with the same type
            assert answer["error"]["type"] == error["type"], answer
        else:  # the flat one /v1/generation uses
            assert isinstance(answer["error"], str), answer
        return
    assert list(mismatches(body, answer)) == []
    if case["endpoint"] == "report":  # the same grouping and time fields in every row
        for row in answer["results"]:
            for model in body["results"]:
                assert set(row) - METRIC_FIELDS == set(model) - METRIC_FIELDS, row


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
async def test_a_payload_reads_as_documented_and_the_simulator_answers_alike(path: Path) -> None:
    case = load(path)
    documented = fixture_answer(case)
    check_outcome(case, await read(case, documented), "fixture")
    answer = await simulated(case)
    same_case(case, documented, answer)
    check_outcome(case, await read(case, answer), "simulator")


def test_every_catalog_price_field_is_read_or_said_to_be_unread() -> None:
    """A new price shape in a recorded answer needs a decision: read it, or list it (and
    why) in exporter/gateway/catalog_models.py."""
    read_by_models = {WEB_SEARCH_FIELD} | {
        name for pair in MODEL_PRICE_FIELDS.values() for name in pair
    }
    read_by_endpoints = {
        name for field in ENDPOINT_PRICE_FIELDS.values() for name in (field, f"{field}_tiers")
    }
    known = {
        "models": read_by_models | set(UNREAD_MODEL_PRICES),
        "model_endpoints": read_by_endpoints | set(UNREAD_ENDPOINT_PRICES),
    }
    for case in map(load, FIXTURES):
        if case["endpoint"] not in known or case["status"] != 200:
            continue
        data = case["body"]["data"]
        entries = data if case["endpoint"] == "models" else data["endpoints"]
        for entry in entries:
            assert set(entry["pricing"]) <= known[case["endpoint"]], entry["pricing"]


def test_the_fixtures_cover_every_endpoint_and_both_envelopes() -> None:
    cases = [load(path) for path in FIXTURES]
    assert {c["endpoint"] for c in cases} == set(PATHS)
    assert any(isinstance(c.get("body", {}).get("error"), str) for c in cases), "flat"
    assert any(isinstance(c.get("body", {}).get("error"), dict) for c in cases), "nested"
    assert any("text" in c for c in cases), "an HTML page"
