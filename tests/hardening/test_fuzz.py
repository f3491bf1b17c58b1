"""Property-based fuzzing: whatever arrives, every refusal is a clear 4xx or config error and
nothing crashes. Intake runs in process (the real app, intake and SQLite store)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from exporter.clock import SystemClock
from exporter.config import Config, ConfigError, StateConfig, load_config
from exporter.gateway.api import error_details
from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import Generation, load_json, parse_credits, parse_generation
from exporter.generations.intake import Intake
from exporter.generations.mirror import SeriesMirror
from exporter.generations.store import Store
from exporter.generations.writer import StateWriter
from exporter.simulator.world import CROCKFORD
from exporter.web.auth import BearerToken
from exporter.web.intake import IntakeEndpoint

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
gen_ids = st.text(alphabet=CROCKFORD, min_size=26, max_size=26).map(lambda b: "gen_" + b)
id_like = (
    gen_ids | st.text(max_size=40) | st.sampled_from(["gen_", "gen_01ARZ3NDEKTSV4RRFFQ69G5FAU"])
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def refused(status: int, message: str) -> None:
    """Refusals are the web layer's to count; here every answer is checked instead."""
    del status, message


@pytest.fixture
async def intake_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    store, mirror = Store(tmp_path / "state.db"), SeriesMirror()
    writer = StateWriter(store, mirror, SystemClock())
    intake = Intake(
        writer,
        mirror,
        ["prod", "dev"],
        SystemClock(),
        5.0,
        max_pending=100_000,
        max_ids=200,
        max_id_age=StateConfig().dedup_retention,
    )
    endpoint = IntakeEndpoint(
        intake, BearerToken(None), max_body_bytes=64 * 1024, on_refusal=refused
    )
    app = Starlette(routes=[Route("/generations", endpoint, methods=["POST"])])
    task = asyncio.create_task(writer.run())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://exporter"
    ) as client:
        yield client
    task.cancel()
    store.close()


def check_answer(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code in (202, 400, 413, 415), (resp.status_code, resp.text)
    body: dict[str, Any] = resp.json()
    if resp.status_code == 202:
        assert set(body) == {"accepted", "duplicates", "rejected"}
    else:
        assert set(body) == {"error"} and body["error"]
    return body


@FUZZ
@given(
    body=st.binary(max_size=3000),
    content_type=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "text/plain; charset=x",
            "application/json; charset=utf-16",
            "",
            "image/png",
            "multipart/form-data",
        ]
    ),
)
async def test_random_bytes_get_a_clear_answer(
    intake_client: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    resp = await intake_client.post(
        "/generations", content=body, headers={"Content-Type": content_type}
    )
    check_answer(resp)


@FUZZ
@given(
    payload=json_values
    | st.fixed_dictionaries(
        {"ids": st.lists(id_like, max_size=250)},
        optional={"team": st.sampled_from(["prod", "dev", "qa", ""]) | json_values},
    ),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
async def test_random_json_gets_a_clear_answer(
    intake_client: httpx.AsyncClient, payload: object, encoding: str
) -> None:
    try:
        raw = json.dumps(payload, ensure_ascii=False).encode(encoding)
    except UnicodeEncodeError:
        return
    resp = await intake_client.post(
        "/generations", content=raw, headers={"Content-Type": "application/json"}
    )
    body = check_answer(resp)
    if resp.status_code == 202:
        assert isinstance(payload, dict)
        ids = payload["ids"] if "ids" in payload else [payload["id"]]
        assert body["accepted"] + body["duplicates"] + len(body["rejected"]) == len(ids)


@FUZZ
@given(lines=st.lists(id_like, max_size=300))
async def test_text_bodies_count_every_line(
    intake_client: httpx.AsyncClient, lines: list[str]
) -> None:
    lines = [line for line in lines if "\n" not in line and "\r" not in line]
    resp = await intake_client.post(
        "/generations?team=dev",
        content="\n".join(lines).encode(),
        headers={"Content-Type": "text/plain"},
    )
    body = check_answer(resp)
    if resp.status_code == 202:
        sent = [line for line in lines if line.strip()]
        assert body["accepted"] + body["duplicates"] + len(body["rejected"]) == len(sent)


config_keys = st.sampled_from(
    [
        "web",
        "gateway",
        "credits",
        "log",
        "state",
        "ingest",
        "lookup",
        "generations",
        "teams",
        "interval",
        "url",
        "name",
        "level",
    ]
)
configs = st.dictionaries(
    config_keys, json_values | st.dictionaries(config_keys, json_values), max_size=5
)


def config_error(path: Path) -> str | None:
    """The loader's refusal, or None when it returned a Config."""
    try:
        config = load_config(path, {}, {})
    except ConfigError as exc:
        return str(exc)
    assert isinstance(config, Config)
    return None


@FUZZ
@given(data=configs)
def test_config_loader_answers_with_a_config_or_a_clear_error(
    tmp_path: Path, data: dict[str, Any]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    message = config_error(path)
    if message is not None:
        assert message.startswith(("invalid configuration: ", "config file "))
        assert "\n" not in message and "Traceback" not in message


@FUZZ
@given(text=st.text(max_size=200))
def test_config_loader_survives_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    message = config_error(path)
    assert message is None or message


money = st.one_of(
    st.text(max_size=12),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=True),
)


@FUZZ
@given(body=json_values | st.fixed_dictionaries({"balance": money, "total_used": money}))
def test_credits_parser(body: object) -> None:
    try:
        credits = parse_credits(body)
    except InvalidResponseError:
        return
    assert credits.balance.is_finite() and credits.total_used.is_finite()
    assert credits.total_used >= 0


GENERATION_FIELDS = [
    "total_cost",
    "upstream_inference_cost",
    "model",
    "provider_name",
    "is_byok",
    "streamed",
    "finish_reason",
    "latency",
    "generation_time",
    "native_tokens_prompt",
    "native_tokens_completion",
    "native_tokens_reasoning",
    "native_tokens_cached",
    "native_tokens_cache_creation",
    "billable_web_search_calls",
    "created_at",
]


@FUZZ
@given(
    gen_id=gen_ids,
    fields=st.dictionaries(st.sampled_from(GENERATION_FIELDS), json_values | money, max_size=16),
)
def test_generation_parser_keeps_only_sound_values(gen_id: str, fields: dict[str, Any]) -> None:
    gen = parse_generation({"data": {"id": gen_id, **fields}})
    assert isinstance(gen, Generation) and gen.id == gen_id
    for name in ("total_cost", "upstream_inference_cost", "latency_ms", "generation_time_ms"):
        value = getattr(gen, name)
        assert value is None or (value.is_finite() and value >= 0)
    for name in ("native_tokens_prompt", "billable_web_search_calls"):
        value = getattr(gen, name)
        assert value is None or (isinstance(value, int) and 0 <= value <= 10**9)
    assert set(gen.invalid_fields) <= set(fields)


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_parses_or_is_invalid(raw: bytes) -> None:
    try:
        body = load_json(raw)
    except InvalidResponseError:
        return
    message, kind = error_details(body)
    assert message is None or isinstance(message, str)
    assert kind is None or isinstance(kind, str)
    for parse in (parse_credits, parse_generation):
        with contextlib.suppress(InvalidResponseError):
            parse(body)
