"""The public model catalog's answers parsed into records: ``GET /v1/models`` (prices per
token and per web search call, tiers, deprecations) and
``GET /v1/models/{creator}/{model}/endpoints`` (each provider's live health and own prices).

Prices arrive as decimal strings in USD per token and stay exact Decimals. The catalog is large
and written by many hands, so a bad field costs only that field: a price of the wrong type, a
tier list that does not add up or a deprecation date out of range is dropped and named in
``invalid_fields``; an entry without an ``id`` (or a provider without a name) is skipped and
counted. Only an answer whose shape is wrong as a whole (no ``data`` list) is an
InvalidResponseError.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any

from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import MAX_MILLISECONDS, to_decimal

# token_type -> (flat price field, tiered price field) of a /v1/models entry's ``pricing``.
MODEL_PRICE_FIELDS = {
    "input": ("input", "input_tiers"),
    "output": ("output", "output_tiers"),
    "cache_read": ("input_cache_read", "input_cache_read_tiers"),
    "cache_write": ("input_cache_write", "input_cache_write_tiers"),
}
# token_type -> price field of an endpoint's ``pricing`` (OpenRouter's names).
ENDPOINT_PRICE_FIELDS = {
    "input": "prompt",
    "output": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
}
# A list price per call, not per token: what one web search costs, the calls being counted
# per generation (billable_web_search_calls).
WEB_SEARCH_FIELD = "web_search"
# The price fields neither route's parser reads, and why: none can be applied to what the
# exporter counts (a model whose ``pricing`` is ``{}`` simply has no prices). The metrics
# reference (docs/metrics.md) lists them from here.
_NO_REGION = (
    "prices in a region: a looked-up record does not say where it ran (a drain span's "
    "vercel.ai_gateway.region values are not documented), so savings use the standard price"
)
_NO_TIER = (
    "prices of the priority and flex service tiers: a looked-up record does not say which "
    "tier served it (a drain span's vercel.ai_gateway.service_tier values are not "
    "documented), so savings use the standard price"
)
_NO_UNIT = "prices of a unit no record counts (images, seconds, characters, audio tokens)"
_FILLER = (
    "OpenRouter's names, 0 on every recorded endpoint, even where the model's list has a "
    "web_search price"
)
UNREAD_MODEL_PRICES = {
    "regional": _NO_REGION,
    "service_tiers": _NO_TIER,
    "image": _NO_UNIT,
    "image_dimension_quality_pricing": _NO_UNIT,
    "video_duration_pricing": _NO_UNIT,
    "video_token_pricing": _NO_UNIT,
    "transcription_duration_cost_per_second": _NO_UNIT,
    "speech_input_character_cost": _NO_UNIT,
    "audio_input_token_cost": _NO_UNIT,
    "realtime_session_duration_cost_per_second": _NO_UNIT,
    "varies_by_provider": "a flag: each provider's own prices come from the endpoints route",
}
UNREAD_ENDPOINT_PRICES = {
    "service_tiers": _NO_TIER,
    "web_search": _FILLER,
    "image": _FILLER,
    "image_output": _FILLER,
    "request": _FILLER,
    "internal_reasoning": _FILLER,
    "discount": "a number, 0 on every recorded endpoint, that Vercel does not document",
    # Beside ``pricing``, not in it: ``[{scope, geo_region, provider_region?, pricing}]``.
    "inference_regions": _NO_REGION,
}
UPTIME_WINDOWS = {"15m": "uptime_last_15m", "1h": "uptime_last_1h", "1d": "uptime_last_1d"}
# The gateway's percentiles, named as it names them: the label is ``percentile``, since
# Prometheus reserves ``quantile`` for summaries (promtool check metrics refuses it on a gauge).
PERCENTILES = ("p50", "p95")

# Beyond these a value is a bug upstream: 10,000 USD per million tokens, 10 USD a web search,
# a prompt of a billion tokens, a stream of a million tokens a second, a date after 2999.
MAX_PRICE = Decimal("0.01")
MAX_CALL_PRICE = Decimal(10)
MAX_TIER_TOKENS = 10**9
MAX_THROUGHPUT = Decimal(1_000_000)
MAX_DEPRECATED_AT_MS = Decimal(32_503_680_000_000)
MAX_ID = 200
# A catalog lists a few hundred models with a few price bands each; far more is a hostile or
# broken answer, which would otherwise grow the exposition and the memory without bound.
MAX_MODELS = 5_000
MAX_TIERS = 32
PERCENT = Decimal(100)
MILLISECONDS = Decimal(1000)


@dataclass(frozen=True)
class Tier:
    """One price band: requests whose prompt has ``min_tokens`` up to (not including)
    ``max_tokens`` tokens pay ``cost`` per token; ``max_tokens`` None has no upper bound."""

    cost: Decimal
    min_tokens: int
    max_tokens: int | None

    def holds(self, prompt_tokens: int) -> bool:
        return self.min_tokens <= prompt_tokens and (
            self.max_tokens is None or prompt_tokens < self.max_tokens
        )


@dataclass(frozen=True)
class Price:
    """One token type's list price: flat, or by the prompt's size when ``tiers`` are given."""

    flat: Decimal | None
    tiers: tuple[Tier, ...] = ()

    @property
    def base(self) -> Decimal:
        """What a small request pays: the flat price, else the first tier's."""
        return self.flat if self.flat is not None else self.tiers[0].cost

    def at(self, prompt_tokens: int | None) -> Decimal | None:
        """The price a request with this many prompt tokens pays; None when no tier holds it
        (or the prompt size is unknown and the price depends on it)."""
        if not self.tiers:
            return self.flat
        if prompt_tokens is None:
            return None
        return next((tier.cost for tier in self.tiers if tier.holds(prompt_tokens)), None)


@dataclass(frozen=True)
class CatalogModel:
    id: str
    prices: Mapping[str, Price]  # by token_type; only the usable ones
    deprecated_at: Decimal | None = None  # Unix seconds
    invalid_fields: tuple[str, ...] = ()
    type: str | None = None  # language, embedding, image, video, reranking …
    web_search: Decimal | None = None  # USD per web search call

    @property
    def tiered(self) -> bool:
        return any(price.tiers for price in self.prices.values())


@dataclass(frozen=True)
class ModelList:
    models: tuple[CatalogModel, ...]
    skipped: int  # entries without a usable id
    dropped: int = 0  # entries beyond MAX_MODELS


@dataclass(frozen=True)
class ProviderEndpoint:
    """One provider serving a model, as the endpoints route describes it right now."""

    provider: str
    status: int | None = None
    uptime: Mapping[str, Decimal] = field(default_factory=dict)  # window -> ratio (0-1)
    latency: Mapping[str, Decimal] = field(default_factory=dict)  # percentile -> seconds
    throughput: Mapping[str, Decimal] = field(default_factory=dict)  # percentile -> tokens/s
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # token_type -> USD per token
    invalid_fields: tuple[str, ...] = ()


def _bounded(value: object, limit: Decimal) -> Decimal | None:
    number = to_decimal(value)
    return number if number is not None and 0 <= number <= limit else None


def _whole(value: object) -> int | None:
    """A whole number from 0 to MAX_TIER_TOKENS (a tier bound, a status code), else None."""
    number = _bounded(value, Decimal(MAX_TIER_TOKENS))
    return int(number) if number is not None and number == number.to_integral_value() else None


def _tier(raw: object) -> Tier | None:
    if not isinstance(raw, dict):
        return None
    cost = _bounded(raw.get("cost"), MAX_PRICE)
    low = _whole(raw.get("min", 0))
    high = None if raw.get("max") is None else _whole(raw["max"])
    if cost is None or low is None or (raw.get("max") is not None and high is None):
        return None
    if high is not None and high <= low:
        return None
    return Tier(cost, low, high)


def _tiers(raw: object) -> tuple[Tier, ...] | None:
    """Non-overlapping bands sorted by their lower bound, or None when any band is unusable:
    half a tier list would price long prompts at the wrong rate."""
    if not isinstance(raw, list) or not raw or len(raw) > MAX_TIERS:
        return None
    tiers = [_tier(item) for item in raw]
    if any(tier is None for tier in tiers):
        return None
    ordered = sorted((t for t in tiers if t is not None), key=lambda t: t.min_tokens)
    for lower, upper in pairwise(ordered):
        if lower.max_tokens is None or lower.max_tokens > upper.min_tokens:
            return None
    return tuple(ordered)


def _model_prices(pricing: dict[str, Any], invalid: list[str]) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    for token_type, (flat_field, tiers_field) in MODEL_PRICE_FIELDS.items():
        flat = None
        if pricing.get(flat_field) is not None:
            flat = _bounded(pricing[flat_field], MAX_PRICE)
            if flat is None:
                invalid.append(f"pricing.{flat_field}")
        tiers: tuple[Tier, ...] = ()
        if pricing.get(tiers_field) is not None:
            parsed = _tiers(pricing[tiers_field])
            if parsed is None:
                invalid.append(f"pricing.{tiers_field}")
                continue  # the flat price alone would be wrong for long prompts
            tiers = parsed
        if flat is not None or tiers:
            prices[token_type] = Price(flat, tiers)
    return prices


def _call_price(pricing: dict[str, Any], invalid: list[str]) -> Decimal | None:
    """The web search price, or None when the model lists none (or an unusable one)."""
    if pricing.get(WEB_SEARCH_FIELD) is None:
        return None
    price = _bounded(pricing[WEB_SEARCH_FIELD], MAX_CALL_PRICE)
    if price is None:
        invalid.append(f"pricing.{WEB_SEARCH_FIELD}")
    return price


def _catalog_model(raw: object) -> CatalogModel | None:
    if not isinstance(raw, dict):
        return None
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not 0 < len(model_id) <= MAX_ID:
        return None
    invalid: list[str] = []
    pricing = raw.get("pricing")
    prices: dict[str, Price] = {}
    web_search = None
    if isinstance(pricing, dict):
        prices = _model_prices(pricing, invalid)
        web_search = _call_price(pricing, invalid)
    elif pricing is not None:
        invalid.append("pricing")
    deprecated_at = None
    if raw.get("deprecated_at") is not None:
        millis = _bounded(raw["deprecated_at"], MAX_DEPRECATED_AT_MS)
        if millis is None or millis == 0:
            invalid.append("deprecated_at")
        else:
            deprecated_at = millis / MILLISECONDS
    kind = raw.get("type")
    return CatalogModel(
        model_id,
        prices,
        deprecated_at,
        tuple(invalid),
        kind if isinstance(kind, str) and 0 < len(kind) <= MAX_ID else None,
        web_search,
    )


def parse_models(body: object) -> ModelList:
    """``{"object": "list", "data": [model, ...]}``; a model without an ``id`` is skipped, the
    first of two with the same ``id`` kept, and none read beyond ``MAX_MODELS``."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise InvalidResponseError('models: expected {"data": [...]}')
    models: dict[str, CatalogModel] = {}
    skipped = 0
    for raw in data[:MAX_MODELS]:
        model = _catalog_model(raw)
        if model is None:
            skipped += 1
        else:
            models.setdefault(model.id, model)
    return ModelList(tuple(models.values()), skipped, max(len(data) - MAX_MODELS, 0))


def _stats(
    raw: dict[str, Any], name: str, scale: Decimal, limit: Decimal, invalid: list[str]
) -> dict[str, Decimal]:
    """``{"p50": …, "p95": …}`` by percentile, divided by ``scale``; bad values are dropped."""
    stats = raw.get(name)
    if stats is None:
        return {}
    if not isinstance(stats, dict):
        invalid.append(name)
        return {}
    out: dict[str, Decimal] = {}
    for key in PERCENTILES:
        if stats.get(key) is None:
            continue
        value = _bounded(stats[key], limit)
        if value is None:
            invalid.append(f"{name}.{key}")
        else:
            out[key] = value / scale
    return out


def _endpoint(raw: object) -> ProviderEndpoint | None:
    if not isinstance(raw, dict):
        return None
    provider = raw.get("provider_name")
    if not isinstance(provider, str) or not 0 < len(provider) <= MAX_ID:
        return None
    invalid: list[str] = []
    status = None
    if raw.get("status") is not None:
        code = _whole(raw["status"])
        if code is None:
            invalid.append("status")
        status = code
    uptime: dict[str, Decimal] = {}
    for window, name in UPTIME_WINDOWS.items():
        if raw.get(name) is None:
            continue
        percent = _bounded(raw[name], PERCENT)
        if percent is None:
            invalid.append(name)
        else:
            uptime[window] = percent / PERCENT
    latency = _stats(raw, "latency_last_1h", MILLISECONDS, MAX_MILLISECONDS, invalid)
    throughput = _stats(raw, "throughput_last_1h", Decimal(1), MAX_THROUGHPUT, invalid)
    if not latency and not throughput:
        # No traffic in the last hour: the gateway shows 100 % as a placeholder, not a
        # measurement; anything lower was measured earlier in the window and stays.
        uptime = {window: ratio for window, ratio in uptime.items() if ratio < 1}
    prices: dict[str, Decimal] = {}
    pricing = raw.get("pricing")
    if isinstance(pricing, dict):
        for token_type, name in ENDPOINT_PRICE_FIELDS.items():
            # A tiered price is no one price: savings then use the list price and its tiers.
            if pricing.get(name) is None or pricing.get(f"{name}_tiers") is not None:
                continue
            price = _bounded(pricing[name], MAX_PRICE)
            if price is None:
                invalid.append(f"pricing.{name}")
            else:
                prices[token_type] = price
    elif pricing is not None:
        invalid.append("pricing")
    return ProviderEndpoint(
        provider=provider,
        status=status,
        uptime=uptime,
        latency=latency,
        throughput=throughput,
        prices=prices,
        invalid_fields=tuple(invalid),
    )


def parse_endpoints(body: object) -> list[ProviderEndpoint]:
    """``{"data": {"id": …, "endpoints": [endpoint, ...]}}``; an endpoint without a
    ``provider_name`` is skipped, the first of two with the same name kept."""
    data = body.get("data") if isinstance(body, dict) else None
    endpoints = data.get("endpoints") if isinstance(data, dict) else None
    if not isinstance(endpoints, list):
        raise InvalidResponseError('endpoints: expected {"data": {"endpoints": [...]}}')
    found: dict[str, ProviderEndpoint] = {}
    for raw in endpoints:
        endpoint = _endpoint(raw)
        if endpoint is not None:
            found.setdefault(endpoint.provider, endpoint)
    return list(found.values())
