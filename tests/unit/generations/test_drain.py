"""AI Gateway's trace drain on POST /v1/traces, in process: signed deliveries counted from their
spans with no lookup, trust that follows the signature, failures and attempts, exactly once."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from exporter import routes
from exporter.assembly import Components
from exporter.config import ConfigError, load_config
from exporter.generations import drain
from exporter.metrics import (
    DRAIN_DELIVERIES,
    DRAIN_TRACE_EVENTS,
    GENERATION_COST,
    GENERATION_DURATION,
    GENERATION_IDS_RECEIVED,
    GENERATION_OBSERVATIONS_SKIPPED,
    GENERATION_REQUESTS,
    GENERATION_TIME_TO_FIRST_TOKEN,
    GENERATION_TOKENS,
    INTAKE_REQUESTS_REFUSED,
    MODEL_FALLBACKS,
    PROVIDER_ATTEMPTS,
    REQUESTS_FAILED,
    Family,
)
from exporter.service import Exporter
from tests.support.drain import (
    SECRET,
    attempt,
    delivery,
    model_attempt,
    new_id,
    root,
    running,
    sign,
    traces,
)
from tests.support.otlp import do_generate, request

KEY = "vck_" + "k" * 40
CLOCK_START = 1_800_000_000.0
CODE = "verify-code-1234"


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Components]:
    secret = tmp_path / "drain.secret"
    secret.write_text(SECRET + "\n")
    code = tmp_path / "verify.code"
    code.write_text(CODE)
    flags = {"drain.secret_file": str(secret), "drain.verify_code_file": str(code)}
    async with running(tmp_path, flags) as exp:
        yield exp


def gen_id(n: int = 0) -> str:
    return new_id(CLOCK_START - 60 - n)


async def post(exp: Components, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=exp.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(routes.TRACES, content=body, headers=dict(headers))


def total(exp: Components, family: Family, **labels: str) -> Decimal:
    """The committed value (a counter's total, a histogram's sum) summed over the series
    whose labels include ``labels``."""
    out = Decimal(0)
    for key, value in exp.generations.mirror.values.items():
        if key.metric == family.name and labels.items() <= dict(key.labels).items():
            out += value.total
    return out


def count(exp: Components, family: Family, **labels: str) -> int:
    return sum(
        value.count
        for key, value in exp.generations.mirror.values.items()
        if key.metric == family.name and labels.items() <= dict(key.labels).items()
    )


def process_count(exp: Components, family: Family, **labels: str) -> float:
    found = 0.0
    for metric in exp.registry.collect():
        for sample in metric.samples:
            if sample.name == family.name and labels.items() <= sample.labels.items():
                found += sample.value
    return found


@pytest.mark.parametrize(("fmt", "compress"), [("protobuf", False), ("json", True)])
async def test_a_signed_delivery_is_counted_from_its_spans_with_no_lookup(
    exporter: Components, fmt: str, compress: bool
) -> None:
    chat = root(gen_id(1), "0.0042", duration_ms=2500)
    embed = root(
        gen_id(2),
        "0.00001",
        operation="embeddings",
        model="openai/text-embedding-3-small",
        provider="openai",
        attrs={"gen_ai.request.stream": False, "gen_ai.response.time_to_first_chunk": None},
    )
    body, headers = delivery(
        traces([chat, embed, attempt(chat, "anthropic")]), fmt, SECRET, compress
    )
    resp = await post(exporter, body, headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-vercel-verify"] == CODE
    assert total(exporter, GENERATION_COST) == Decimal("0.00421")
    assert total(exporter, GENERATION_COST, operation="embeddings") == Decimal("0.00001")
    assert count(exporter, GENERATION_TIME_TO_FIRST_TOKEN) == 1  # the embedding streamed nothing
    assert total(exporter, GENERATION_TIME_TO_FIRST_TOKEN) == Decimal("0.25")
    assert total(exporter, GENERATION_DURATION, operation="chat") == Decimal("2.5")
    assert total(exporter, GENERATION_TOKENS, token_type="input") == 2400
    assert total(exporter, GENERATION_REQUESTS, finish_reason="stop", streamed="true") == 1
    assert total(exporter, PROVIDER_ATTEMPTS, outcome="success", provider="anthropic") == 1
    assert total(exporter, GENERATION_IDS_RECEIVED, intake="drain", result="accepted") == 2
    assert exporter.generations.mirror.pending.get("default", 0) == 0  # nothing to look up
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="observed") == 2
    assert process_count(exporter, DRAIN_DELIVERIES, result="accepted") == 1


async def test_a_redelivery_and_a_replay_count_nothing_new(exporter: Components) -> None:
    first = root(gen_id(1))
    body, headers = delivery(traces([first, attempt(first, "anthropic")]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert (await post(exporter, body, headers)).status_code == 200  # the same bytes: replayed
    rebatched, again = delivery(traces([first, attempt(first, "bedrock"), root(gen_id(2))]))
    assert (await post(exporter, rebatched, again)).status_code == 200
    assert count(exporter, GENERATION_COST) == 2
    assert total(exporter, PROVIDER_ATTEMPTS) == 1  # the repeated root's attempts too
    assert process_count(exporter, DRAIN_DELIVERIES, result="replayed") == 1
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="duplicate") == 1


async def test_a_root_made_outside_the_id_window_counts_nothing(exporter: Components) -> None:
    """A delivery replayed after the dedup retention (its digest forgotten, its IDs' resolved
    rows pruned) would count its generations again: its roots are held to the ID window, as
    every other path's IDs are; a fresh root beside them is counted."""
    week = 7 * 86400
    stale, future, fresh = new_id(CLOCK_START - week - 60), new_id(CLOCK_START + 3600), gen_id(1)
    body, headers = delivery(traces([root(stale), root(future), root(fresh)]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 1
    assert total(exporter, GENERATION_IDS_RECEIVED, intake="drain", result="accepted") == 1
    assert total(exporter, GENERATION_IDS_RECEIVED, intake="drain", result="stale") == 1
    assert total(exporter, GENERATION_IDS_RECEIVED, intake="drain", result="future") == 1
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="observed") == 1
    assert exporter.generations.mirror.pending.get("default", 0) == 0, "nothing to look up"


async def test_an_id_pushed_first_is_resolved_by_the_drain_without_a_lookup(
    exporter: Components,
) -> None:
    pushed = gen_id(1)
    await exporter.generations.intake.accept("default", [pushed], "http")
    assert exporter.generations.mirror.pending["default"] == 1
    body, headers = delivery(traces([root(pushed, "0.5")]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert exporter.generations.mirror.pending["default"] == 0
    assert total(exporter, GENERATION_COST) == Decimal("0.5")
    await exporter.generations.intake.accept("default", [pushed], "http")  # and after it
    assert exporter.generations.mirror.pending["default"] == 0
    assert count(exporter, GENERATION_COST) == 1


async def test_a_failed_request_is_counted_once_and_never_looked_up(exporter: Components) -> None:
    failed_id = gen_id(1)
    failure = root(failed_id, None, failed="provider_error")
    spans = [
        failure,
        attempt(failure, "anthropic", error="rate_limited"),
        attempt(failure, "bedrock", timeout=True),
    ]
    body, headers = delivery(traces(spans))
    assert (await post(exporter, body, headers)).status_code == 200
    assert total(exporter, REQUESTS_FAILED, error_type="provider_error", operation="chat") == 1
    assert total(exporter, PROVIDER_ATTEMPTS, outcome="rate_limited", provider="anthropic") == 1
    assert total(exporter, PROVIDER_ATTEMPTS, outcome="timeout", provider="bedrock") == 1
    assert count(exporter, GENERATION_COST) == 0
    # The app's SDK span of the same failed call names the ID too: it is no lookup's business.
    await exporter.generations.intake.accept("default", [failed_id], "otlp")
    assert exporter.generations.mirror.pending.get("default", 0) == 0


async def test_fallbacks_are_counted_by_the_model_fallen_back_to(exporter: Components) -> None:
    request_ = root(gen_id(1), model="openai/gpt-5.4")
    spans = [
        request_,
        model_attempt(request_, "anthropic/claude-sonnet-4.6", 0, False),
        model_attempt(request_, "openai/gpt-5.4", 1, True),
    ]
    body, headers = delivery(traces(spans))
    assert (await post(exporter, body, headers)).status_code == 200
    assert total(exporter, MODEL_FALLBACKS, model="openai/gpt-5.4") == 1
    assert total(exporter, MODEL_FALLBACKS) == 1


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("0" * 40, "signature_mismatch"),
        ("", "signature_malformed"),
        ("abc123", "signature_malformed"),
        ("UPPER", "signature_malformed"),
        ("changed", "signature_mismatch"),
        ("other-secret", "signature_mismatch"),
    ],
)
async def test_a_bad_signature_is_refused_with_403_and_nothing_is_stored(
    exporter: Components, signature: str, reason: str
) -> None:
    body, headers = delivery(traces([root(gen_id(1), "999")]))
    if signature == "UPPER":
        headers["x-vercel-signature"] = headers["x-vercel-signature"].upper()
    elif signature == "changed":
        body = body.replace(b"999", b"998")
    elif signature == "other-secret":
        headers["x-vercel-signature"] = sign(body, "another secret")
    else:
        headers["x-vercel-signature"] = signature
    resp = await post(exporter, body, headers)
    assert resp.status_code == 403
    assert resp.json()["code"] == "invalid_signature"
    assert resp.headers["x-vercel-verify"] == CODE
    assert count(exporter, GENERATION_COST) == 0
    assert exporter.generations.mirror.pending.get("default", 0) == 0
    refused = process_count(exporter, INTAKE_REQUESTS_REFUSED, path=routes.TRACES, reason=reason)
    assert refused == 1


async def test_an_unsigned_forged_cost_moves_no_cost_series(exporter: Components) -> None:
    forged = gen_id(1)
    body, headers = delivery(traces([root(forged, "9999")]), secret=None)
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 0
    assert exporter.generations.mirror.pending["default"] == 1  # its ID waits for a lookup
    assert total(exporter, GENERATION_IDS_RECEIVED, intake="otlp", result="accepted") == 1


@pytest.mark.parametrize("cost", ["NaN", "-1", "1e999", "", "0.1.2"])
async def test_an_unusable_cost_is_looked_up_instead(exporter: Components, cost: str) -> None:
    unusable = gen_id(1)
    body, headers = delivery(traces([root(unusable, cost)]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 0
    assert exporter.generations.mirror.pending["default"] == 1
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="looked_up") == 1


@pytest.mark.parametrize(
    ("tokens", "field"),
    [(-5, "native_tokens_prompt"), (2**63 - 1, "native_tokens_prompt")],
)
async def test_unusable_token_counts_are_skipped_and_counted(
    exporter: Components, tokens: int, field: str
) -> None:
    body, headers = delivery(traces([root(gen_id(1), attrs={"gen_ai.usage.input_tokens": tokens})]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 1
    assert total(exporter, GENERATION_TOKENS, token_type="input") == 0
    skipped = [
        key
        for key, value in exporter.generations.mirror.values.items()
        if key.metric == GENERATION_OBSERVATIONS_SKIPPED.name
        and dict(key.labels).get("field") == field
        and value.total
    ]
    assert [dict(key.labels)["reason"] for key in skipped] == ["invalid"]


async def test_a_root_without_an_id_counts_nothing(exporter: Components) -> None:
    body, headers = delivery(traces([root(None)]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 0
    assert exporter.generations.mirror.pending.get("default", 0) == 0
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="no_id") == 1


async def test_app_spans_in_a_drain_delivery_are_ids_to_look_up(exporter: Components) -> None:
    app_id = gen_id(1)
    message = traces([root(gen_id(2))])
    message.resource_spans.extend(request([do_generate(app_id)]).resource_spans)
    body, headers = delivery(message)
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 1
    assert exporter.generations.mirror.pending["default"] == 1


async def test_the_verify_code_answers_vercels_endpoint_check(exporter: Components) -> None:
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for method in ("GET", "HEAD"):
            resp = await client.request(method, routes.TRACES)
            assert resp.status_code == 200
            assert resp.headers["x-vercel-verify"] == CODE
        wrong_type = await client.post(routes.TRACES, content=b"x", headers={"Content-Type": "x/y"})
        assert wrong_type.status_code == 415
        assert wrong_type.headers["x-vercel-verify"] == CODE
        assert "x-vercel-verify" not in (await client.get(routes.HEALTHZ)).headers


async def test_attribution_labels_come_from_the_drains_own_attributes(tmp_path: Path) -> None:
    secret = tmp_path / "drain.secret"
    secret.write_text(f"old-secret\n{SECRET}\n")  # rotating: both are valid
    flags = {
        "drain.secret_file": str(secret),
        "attribution.labels": [
            "api_key=span:vercel.ai_gateway.api_key.name",
            "tag=span:vercel.ai_gateway.tags",
            "project=span:vercel.project.id",
        ],
    }
    async with running(tmp_path, flags) as exp:
        attrs = {
            "vercel.ai_gateway.api_key.name": "prod-backend",
            "vercel.ai_gateway.tags": ["search", "eval"],
            "vercel.project.id": "prj_123",
        }
        body, headers = delivery(traces([root(gen_id(1), attrs=attrs)]))
        assert (await post(exp, body, headers)).status_code == 200
        old_body, old_headers = delivery(traces([root(gen_id(2))]), secret="old-secret")
        assert (await post(exp, old_body, old_headers)).status_code == 200
        labelled = total(
            exp, GENERATION_COST, api_key="prod-backend", tag="search,eval", project="prj_123"
        )
        assert labelled == Decimal("0.0042")
        assert total(exp, GENERATION_COST, api_key="none") == Decimal("0.0042")


async def test_refusals_and_the_drains_cost_are_on_the_landing_page(exporter: Components) -> None:
    body, headers = delivery(traces([root(gen_id(1))]))
    assert (await post(exporter, body, headers)).status_code == 200
    headers["x-vercel-signature"] = "0" * 40
    assert (await post(exporter, body, headers)).status_code == 403
    transport = httpx.ASGITransport(app=exporter.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        page = (await client.get(routes.LANDING)).text
    assert 'data-path="/v1/traces" data-reason="signature_mismatch"' in page
    assert "Vercel bills each drain per trace event" in page
    assert "took 1 trace events in 1 deliveries" in page
    assert 'data-intake="drain"' in page


async def test_json_as_vercel_spells_it_is_taken(exporter: Components) -> None:
    """Vercel's Trace Drains Reference writes a span's kind as "server", not as OTLP/JSON's
    integer or enum name; a failed status likewise may be short."""
    failure = root(gen_id(2), None, failed="provider_error")
    body, _ = delivery(traces([root(gen_id(1)), failure]), "json", None)
    data = json.loads(body)
    for span in data["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        span["kind"] = "server"
        if "status" in span:
            span["status"]["code"] = "error"
    body = json.dumps(data).encode()
    headers = {"Content-Type": "application/json", "x-vercel-signature": sign(body)}
    assert (await post(exporter, body, headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 1
    assert total(exporter, REQUESTS_FAILED) == 1


async def test_a_rotated_secret_is_read_again_without_a_restart(
    exporter: Components, tmp_path: Path
) -> None:
    first, first_headers = delivery(traces([root(gen_id(1))]))
    assert (await post(exporter, first, first_headers)).status_code == 200
    (tmp_path / "drain.secret").write_text("the-new-secret-after-rotation\n")
    Exporter(exporter).reload()  # SIGHUP; a change on disk is noticed at the next delivery anyway
    old, old_headers = delivery(traces([root(gen_id(2))]))
    assert (await post(exporter, old, old_headers)).status_code == 403
    new, new_headers = delivery(traces([root(gen_id(3))]), secret="the-new-secret-after-rotation")
    assert (await post(exporter, new, new_headers)).status_code == 200
    assert count(exporter, GENERATION_COST) == 2


async def test_a_collector_holding_the_ingest_token_may_be_trusted(tmp_path: Path) -> None:
    """A Collector in front re-encodes deliveries, so Vercel's signature cannot survive it:
    with --otlp.trust-span-values the ingest token is what is trusted instead."""
    token = tmp_path / "ingest.token"
    token.write_text("collector-token-0123456789")
    body, headers = delivery(traces([root(gen_id(1), "0.25")]), secret=None)
    with_token = {**headers, "Authorization": "Bearer collector-token-0123456789"}
    flags = {"ingest.token_file": str(token), "otlp.trust_span_values": "true"}
    async with running(tmp_path / "trusting", flags) as trusting:
        assert (await post(trusting, body, headers)).status_code == 401
        assert (await post(trusting, body, with_token)).status_code == 200
        assert total(trusting, GENERATION_COST) == Decimal("0.25")
    async with running(tmp_path / "distrusting", {"ingest.token_file": str(token)}) as distrusting:
        assert (await post(distrusting, body, with_token)).status_code == 200
        assert count(distrusting, GENERATION_COST) == 0  # an ID to look up, no more
        assert distrusting.generations.mirror.pending["default"] == 1


def test_trusting_span_values_needs_the_ingest_token() -> None:
    with pytest.raises(ConfigError, match=r"needs ingest\.token_file"):
        load_config(None, {}, {"otlp.trust_span_values": "true"})


@pytest.mark.parametrize("drained_at", [0, 1, 2, 3])
async def test_one_generation_by_every_path_is_counted_once(
    exporter: Components, drained_at: int
) -> None:
    """Drain, SDK span, push and log, in four orders: one generation, counted once, from the
    drain's values (a lookup would have needed the simulator)."""
    one = gen_id(1)
    body, headers = delivery(traces([root(one, "0.125")]))
    sdk_body, sdk_headers = delivery(request([do_generate(one)]), secret=None)
    intake = exporter.generations.intake
    paths_in_order = ["span", "push", "log"]
    paths_in_order.insert(drained_at, "drain")
    for path in paths_in_order:
        if path == "drain":
            assert (await post(exporter, body, headers)).status_code == 200
        elif path == "span":
            assert (await post(exporter, sdk_body, sdk_headers)).status_code == 200
        else:
            await intake.accept("default", [one], "http" if path == "push" else "follow")
    assert count(exporter, GENERATION_COST) == 1
    assert total(exporter, GENERATION_COST) == Decimal("0.125")
    assert exporter.generations.mirror.pending.get("default", 0) == 0
    accepted = total(exporter, GENERATION_IDS_RECEIVED, result="accepted")
    assert accepted == (1 if drained_at == 0 else 2)  # the first path, and the drain after it


def test_every_attribute_the_reader_looks_at_is_read() -> None:
    """attributes_of reads only the attributes in READ: one looked up but not read would be
    silently absent, so the source may name no other."""
    source = Path(drain.__file__).read_text()
    named = set(re.findall(r'"((?:gen_ai|vercel|http|error)\.[a-z0-9_.]+)"', source))
    named -= {drain.MODEL_ATTEMPT}  # a span name, not an attribute
    assert named <= drain.READ, sorted(named - drain.READ)


@pytest.mark.parametrize(("ttft", "seconds"), [(2, "2"), (0.125, "0.125")])
async def test_a_time_to_first_chunk_in_whole_seconds_is_seconds(
    exporter: Components, ttft: float, seconds: str
) -> None:
    spans = [root(gen_id(1), attrs={"gen_ai.response.time_to_first_chunk": ttft})]
    body, headers = delivery(traces(spans))
    assert (await post(exporter, body, headers)).status_code == 200
    assert total(exporter, GENERATION_TIME_TO_FIRST_TOKEN) == Decimal(seconds)


async def test_a_failed_request_without_an_id_is_still_a_failure(exporter: Components) -> None:
    failure = root(None, None, failed="rate_limit_exceeded")
    body, headers = delivery(traces([failure, attempt(failure, "anthropic", error="overloaded")]))
    assert (await post(exporter, body, headers)).status_code == 200
    assert (await post(exporter, body, headers)).status_code == 200  # sent again: nothing more
    assert total(exporter, REQUESTS_FAILED, error_type="rate_limit_exceeded") == 1
    assert total(exporter, PROVIDER_ATTEMPTS, outcome="overloaded") == 1
    assert process_count(exporter, DRAIN_TRACE_EVENTS, result="failed") == 1
