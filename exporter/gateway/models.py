"""The gateway's answers (credits, generations, reports) parsed into typed records, and the
exact JSON decoding every parser shares: money as exact Decimal, every optional field optional.

Money arrives as decimal strings (``/v1/credits``) or JSON numbers (``/v1/generation``); both are
parsed without passing through float, so published values match the gateway to the last digit.
A generation field of the wrong type or an absurd value becomes ``None`` and is listed in
``invalid_fields``: that one observation is skipped, the rest of the record still counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from exporter.gateway.errors import InvalidResponseError

# gen_ + a ULID: 26 Crockford base32 characters (no I, L, O, U). The gateway issues them in
# upper case; Crockford base32 is case-insensitive, so intake also takes a lower-case body
# (never seen, but a log pipeline may fold case) and stores it in the canonical upper case.
GENERATION_ID_PATTERN = r"gen_[0-9A-HJKMNP-TV-Z]{26}"
GENERATION_ID_RE = re.compile(GENERATION_ID_PATTERN)
ANY_CASE_ID_PATTERN = r"gen_[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}"
_ANY_CASE_ID_RE = re.compile(ANY_CASE_ID_PATTERN)

# Beyond these a value is a bug upstream, not a real generation; it is rejected, not published.
MAX_COST_USD = Decimal(10_000)
MAX_TOKENS = 10**9
MAX_MILLISECONDS = Decimal(86_400_000)


def is_generation_id(value: str) -> bool:
    """Whether ``value`` is an ID in the canonical form the gateway issues."""
    return GENERATION_ID_RE.fullmatch(value) is not None


def canonical_generation_id(value: str) -> str | None:
    """The canonical form of an ID whose ULID is in any case (``gen_`` itself is not folded),
    or None when ``value`` is no ID."""
    if _ANY_CASE_ID_RE.fullmatch(value) is None:
        return None
    return "gen_" + value[4:].upper()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(content: bytes) -> Any:
    """Parse a body with exact decimals; NaN/Infinity and bad UTF-8 are malformed."""
    try:
        return json.loads(content, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidResponseError(f"malformed JSON body: {exc}") from None


def to_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a decimal string or JSON number; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


@dataclass(frozen=True)
class Credits:
    balance: Decimal
    total_used: Decimal


def parse_credits(body: object) -> Credits:
    """``{"balance": "95.50", "total_used": "4.50"}``; both required (strings or numbers)."""
    if not isinstance(body, dict):
        raise InvalidResponseError("credits: expected a JSON object")
    values: dict[str, Decimal] = {}
    for name in ("balance", "total_used"):
        value = to_decimal(body.get(name))
        if value is None:
            raise InvalidResponseError(f"credits: {name} is missing or not a decimal")
        values[name] = value
    if values["total_used"] < 0:
        raise InvalidResponseError("credits: total_used is negative")
    return Credits(balance=values["balance"], total_used=values["total_used"])


@dataclass(frozen=True)
class Generation:
    """One ``/v1/generation`` record. Only ``id`` is guaranteed."""

    id: str
    total_cost: Decimal | None = None
    upstream_inference_cost: Decimal | None = None
    model: str | None = None
    provider_name: str | None = None
    is_byok: bool | None = None
    streamed: bool | None = None
    finish_reason: str | None = None
    latency_ms: Decimal | None = None
    generation_time_ms: Decimal | None = None
    native_tokens_prompt: int | None = None
    native_tokens_completion: int | None = None
    native_tokens_reasoning: int | None = None
    native_tokens_cached: int | None = None
    native_tokens_cache_creation: int | None = None
    billable_web_search_calls: int | None = None
    # The breakdown newer records add (absent or null on older ones): the inference at the
    # provider's market price, and the part of total_cost the gateway adds for features.
    market_cost: Decimal | None = None
    surcharge_cost: Decimal | None = None
    created_at: str | None = None
    invalid_fields: tuple[str, ...] = ()
    # What kind of request it was (chat, embeddings …): only a trace drain span says; a
    # record does not, so the observer asks the catalog for the model's type instead.
    operation: str | None = None
    # Record fields the source never carries (a drain span has no web search count): not
    # observed, and not counted as missing either.
    unavailable: tuple[str, ...] = ()


def _money(value: object, limit: Decimal) -> Decimal | None:
    number = to_decimal(value)
    return number if number is not None and 0 <= number <= limit else None


def _count(value: object) -> int | None:
    if type(value) is int:  # what JSON and spans send: no detour through Decimal
        return value if 0 <= value <= MAX_TOKENS else None
    number = to_decimal(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= MAX_TOKENS:
        return None
    return int(number)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


_FIELDS: dict[str, tuple[str, Any]] = {
    "total_cost": ("total_cost", lambda v: _money(v, MAX_COST_USD)),
    "upstream_inference_cost": ("upstream_inference_cost", lambda v: _money(v, MAX_COST_USD)),
    "model": ("model", _text),
    "provider_name": ("provider_name", _text),
    "is_byok": ("is_byok", _flag),
    "streamed": ("streamed", _flag),
    "finish_reason": ("finish_reason", _text),
    "latency": ("latency_ms", lambda v: _money(v, MAX_MILLISECONDS)),
    "generation_time": ("generation_time_ms", lambda v: _money(v, MAX_MILLISECONDS)),
    "native_tokens_prompt": ("native_tokens_prompt", _count),
    "native_tokens_completion": ("native_tokens_completion", _count),
    "native_tokens_reasoning": ("native_tokens_reasoning", _count),
    "native_tokens_cached": ("native_tokens_cached", _count),
    "native_tokens_cache_creation": ("native_tokens_cache_creation", _count),
    "billable_web_search_calls": ("billable_web_search_calls", _count),
    "market_cost": ("market_cost", lambda v: _money(v, MAX_COST_USD)),
    "surcharge_cost": ("surcharge_cost", lambda v: _money(v, MAX_COST_USD)),
    "created_at": ("created_at", _text),
}
# gateway_cost, the total debited (the AI SDK's gatewayCost), repeats total_cost: not read.


def parse_generation(body: object) -> Generation:
    """``{"data": {...}}`` to a Generation; a record without a valid ``id`` is malformed."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise InvalidResponseError('generation: expected {"data": {...}}')
    gen_id = data.get("id")
    if not isinstance(gen_id, str) or not is_generation_id(gen_id):
        raise InvalidResponseError("generation: data.id is missing or not a generation ID")
    return generation_from(gen_id, data)


def generation_from(
    gen_id: str,
    data: Mapping[str, object],
    operation: str | None = None,
    unavailable: tuple[str, ...] = (),
) -> Generation:
    """A Generation from fields named as the record names them, each checked the same way
    whichever source they come from (a lookup's record or a drain span's attributes)."""
    values: dict[str, Any] = {}
    invalid: list[str] = []
    for source, (attr, convert) in _FIELDS.items():
        raw = data.get(source)
        if raw is None:
            continue
        value = convert(raw)
        if value is None:
            invalid.append(source)
        else:
            values[attr] = value
    return Generation(
        id=gen_id,
        invalid_fields=tuple(invalid),
        operation=operation,
        unavailable=unavailable,
        **values,
    )


# --- GET /v1/report (Custom Reporting) --------------------------------------------------------

REPORT_MONEY_FIELDS = ("total_cost", "market_cost", "surcharge_cost", "gateway_cost")
REPORT_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_input_tokens",
    "reasoning_tokens",
    "request_count",
)


@dataclass(frozen=True)
class ReportRow:
    """One ``results`` row: its group value (None when absent or null), its ``hour`` (an
    hourly query's ``YYYY-MM-DDTHH``, None when the row has none) and the metrics present.

    A ``day`` next to the group (the docs contradict each other about time fields on grouped
    rows) is ignored: rows of the same group are summed by the caller either way.
    """

    group: str | None
    values: dict[str, Decimal]
    hour: str | None = None


_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}")


def _hour_value(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _HOUR.fullmatch(value) is None:
        raise InvalidResponseError(f"report: {where} is not an hour (YYYY-MM-DDTHH)")
    return value


def _group_value(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):  # zero_data_retention is documented as a string; accept both
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    raise InvalidResponseError(f"report: {where} is not a string")


def _report_value(field: str, value: object, where: str) -> Decimal:
    number = to_decimal(value)
    if field in REPORT_MONEY_FIELDS:
        if number is None:
            raise InvalidResponseError(f"report: {where} is not a decimal")
    elif number is None or number < 0 or number != number.to_integral_value():
        raise InvalidResponseError(f"report: {where} is not a count")
    return number


def parse_report(body: object, group_field: str) -> list[ReportRow]:
    """``{"results": [row, ...]}`` grouped by ``group_field``.

    ``total_cost`` is required in every row, the other metrics are optional. A metric that is
    not a number rejects the whole answer: a report with a row left out would publish totals
    that look right and are not.
    """
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise InvalidResponseError('report: expected {"results": [...]}')
    rows = []
    for index, raw in enumerate(results):
        if not isinstance(raw, dict):
            raise InvalidResponseError(f"report: results[{index}] is not an object")
        values = {
            field: _report_value(field, raw[field], f"results[{index}].{field}")
            for field in (*REPORT_MONEY_FIELDS, *REPORT_COUNT_FIELDS)
            if raw.get(field) is not None
        }
        if "total_cost" not in values:
            raise InvalidResponseError(f"report: results[{index}].total_cost is missing")
        group = _group_value(raw.get(group_field), f"results[{index}].{group_field}")
        hour = _hour_value(raw.get("hour"), f"results[{index}].hour")
        rows.append(ReportRow(group, values, hour))
    return rows
