"""The simulator's model catalog: the models it generates, their prices, and the two public
routes that publish them (``GET /v1/models`` and each model's endpoints).

Prices are the single truth of the simulated world: a generation costs what they say at the
moment it is made, and its cache savings (cached tokens times input minus cache-read price)
follow from the same numbers, so tests compare the exporter's savings exactly. The catalog
holds what the real one shows: a tiered model, providers charging their own prices, prices per
web search call, by region and by service tier, a model priced per image and one priced by
nothing, a model deprecated within 30 days and one in 60, a model served but not listed,
providers serving no traffic lately, and provider health that drifts with time. The shapes are
those of recorded answers (tests/fixtures/gateway/); the values are invented. A price change
is a control call (``POST /_sim/prices``).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DAY = 86400.0
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write")
UPTIMES = ("uptime_last_15m", "uptime_last_1h", "uptime_last_1d")
# The simulated catalog's field of each token type, in /v1/models and in the endpoints route.
MODEL_FIELDS = {
    "input": "input",
    "output": "output",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
}
ENDPOINT_FIELDS = {
    "input": "prompt",
    "output": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
}
# What a provider charges over the list price (others charge the list price).
PROVIDER_MARKUP = {"bedrock": Decimal("1.1"), "vertex": Decimal("1.1"), "azure": Decimal("1.05")}
LONG_PROMPT_FACTOR = Decimal(2)  # a tiered model's price from its long_prompt bound up
CACHE_READ_SHARE = Decimal("0.1")  # a cache read costs a tenth of an input token at first
CACHE_WRITE_SHARE = Decimal("1.25")
# What one web search call costs, by the model's creator: a chat model of another creator
# lists no web search price and makes no billable web search.
WEB_SEARCH_PRICES = {
    "anthropic": Decimal("0.01"),
    "openai": Decimal("0.01"),
    "google": Decimal("0.035"),
}
IMAGE_PRICE = Decimal("0.04")  # what an image model charges per image, its only price
# Prices the exporter leaves unread (exporter/gateway/catalog_models.py), served so that it
# meets them: an Anthropic model's prices in two regions, an OpenAI model's service tiers,
# and the OpenAI and Anthropic providers' prices in one US zone.
REGIONS = ("us", "eu")
REGIONAL_CREATORS = ("anthropic",)
REGIONAL_FACTOR = Decimal("1.1")
SERVICE_TIERS = {"priority": Decimal(2), "flex": Decimal("0.5")}
SERVICE_TIER_CREATORS = ("openai",)
ZONE_PROVIDERS = ("anthropic", "openai")
# OpenRouter's names, 0 on every endpoint of the recorded answers.
ENDPOINT_FILLER = {
    "request": "0",
    "image": "0",
    "image_output": "0",
    "web_search": "0",
    "internal_reasoning": "0",
}
# The AI SDK specification versions every model of the recorded catalog lists.
SPECIFICATIONS = ["v2", "v3", "v4"]


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    providers: tuple[str, ...]
    input_price: Decimal  # USD per token, the list price at start
    output_price: Decimal
    reasoning: bool = False
    listed: bool = True  # False: served, yet missing from /v1/models (savings unknown)
    long_prompt: int | None = None  # tiered: prompts from this many tokens pay double
    deprecated_in_days: float | None = None  # deprecated this long after the simulator starts
    type: str = "language"  # the catalog's type: language, embedding, image, reranking
    # Providers the endpoints route lists that serve none of the gateway's traffic lately (no
    # latency or throughput), never picked for a generation: ``idle`` ones show the 100 %
    # uptime placeholder for the last 15 minutes and hour, ``silent`` ones null in every
    # window, as recorded for a provider with no traffic all day.
    idle: tuple[str, ...] = ()
    silent: tuple[str, ...] = ()

    @property
    def creator(self) -> str:
        return self.id.split("/")[0]


CATALOGUE: tuple[ModelSpec, ...] = (
    ModelSpec(
        "anthropic/claude-sonnet-4.6",
        "Claude Sonnet 4.6",
        ("anthropic", "bedrock", "vertex"),
        Decimal("0.000003"),
        Decimal("0.000015"),
    ),
    ModelSpec(
        "anthropic/claude-haiku-4.5",
        "Claude Haiku 4.5",
        ("anthropic", "bedrock"),
        Decimal("0.000001"),
        Decimal("0.000005"),
    ),
    ModelSpec(
        "openai/gpt-5.4",
        "GPT-5.4",
        ("openai", "azure"),
        Decimal("0.00000125"),
        Decimal("0.00001"),
        reasoning=True,
    ),
    ModelSpec(
        "openai/gpt-5.4-mini",
        "GPT-5.4 mini",
        ("openai",),
        Decimal("0.00000025"),
        Decimal("0.000002"),
        reasoning=True,
        deprecated_in_days=60,
    ),
    ModelSpec(
        "google/gemini-2.5-flash",
        "Gemini 2.5 Flash",
        ("vertex",),
        Decimal("0.0000003"),
        Decimal("0.0000025"),
        reasoning=True,
        long_prompt=2000,
    ),
    ModelSpec(
        "meta/llama-4-maverick",
        "Llama 4 Maverick",
        ("groq", "cerebras"),
        Decimal("0.0000002"),
        Decimal("0.0000006"),
        deprecated_in_days=10,
    ),
    ModelSpec(
        "deepseek/deepseek-v3.2",
        "DeepSeek V3.2",
        ("novita", "deepinfra"),
        Decimal("0.00000027"),
        Decimal("0.0000011"),
        idle=("baseten",),
        silent=("blackbox",),
    ),
    ModelSpec(
        "acme/support-tuned-8b",
        "Acme support (private)",
        ("deepinfra",),
        Decimal("0.0000001"),
        Decimal("0.0000004"),
        listed=False,
    ),
)
# Served for embedding requests only (TeamWorld.embed), never picked for a chat generation.
EMBEDDING_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "openai/text-embedding-3-small",
        "Text Embedding 3 Small",
        ("openai",),
        Decimal("0.00000002"),
        Decimal(0),
        type="embedding",
    ),
    ModelSpec(
        "cohere/embed-v4.0",
        "Embed v4.0",
        ("cohere", "bedrock"),
        Decimal("0.00000012"),
        Decimal(0),
        type="embedding",
    ),
)
# Listed, never generated: the catalog's other price shapes, per image and none at all (as
# most real rerankers list ``pricing: {}``).
LISTED_ONLY_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "bfl/flux-kontext-pro",
        "FLUX.1 Kontext Pro",
        ("bfl",),
        Decimal(0),
        Decimal(0),
        type="image",
    ),
    ModelSpec(
        "cohere/rerank-v3.5",
        "Rerank v3.5",
        ("cohere",),
        Decimal(0),
        Decimal(0),
        type="reranking",
    ),
)
_SYNTHETIC_PROVIDERS = ("alpha", "beta", "gamma", "delta", "epsilon")


def catalogue(models: int | None = None) -> tuple[ModelSpec, ...]:
    """The built-in models, followed by synthetic ones up to ``models`` in all (stress runs)."""
    built_in = CATALOGUE + EMBEDDING_MODELS + LISTED_ONLY_MODELS
    extra = max(0, (models or 0) - len(built_in))
    synthetic = tuple(
        ModelSpec(
            f"synthetic/model-{index:03d}",
            f"Synthetic {index}",
            _SYNTHETIC_PROVIDERS[index % 5 : index % 5 + 1 + index % 3],
            Decimal(1 + index % 9) / Decimal(1_000_000),
            Decimal(4 + index % 17) / Decimal(1_000_000),
        )
        for index in range(extra)
    )
    return built_in + synthetic


def _text(value: Decimal) -> str:
    """A price as the catalog writes it: a plain decimal string, never an exponent."""
    return format(value.normalize(), "f")


def _output(spec: ModelSpec) -> str:
    """What the model's output modality is: text for a chat model, else its type."""
    return "text" if spec.type == "language" else spec.type


Fields = Mapping[str, str]  # token type -> the route's name for its price
Prices = Mapping[str, Decimal]  # token type -> USD per token


def _scaled(fields: Fields, prices: Prices, factor: Decimal) -> dict[str, str]:
    """The token prices times ``factor``, under the route's names."""
    return {fields[t]: _text(prices[t] * factor) for t in TOKEN_TYPES}


def _service_tiers(fields: Fields, prices: Prices) -> dict[str, dict[str, str]]:
    """Priority and flex prices as the recorded answers give them: no cache-write price."""
    return {
        tier: {fields[t]: _text(prices[t] * factor) for t in ("input", "output", "cache_read")}
        for tier, factor in SERVICE_TIERS.items()
    }


def _tiers(fields: Fields, prices: Prices, bound: int) -> dict[str, list[dict[str, Any]]]:
    """Two bands per token type, doubling from ``bound`` up. The recorded answers write a
    first band with ``min: 0`` or with no ``min``: the cache prices' have none."""
    return {
        f"{fields[t]}_tiers": [
            {
                "cost": _text(prices[t]),
                **({} if t.startswith("cache") else {"min": 0}),
                "max": bound,
            },
            {"cost": _text(prices[t] * LONG_PROMPT_FACTOR), "min": bound},
        ]
        for t in TOKEN_TYPES
    }


def _unit(*parts: str) -> float:
    """A stable number in [0, 1) for ``parts``: each provider drifts its own way."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimCatalog:
    """The models of one simulator and their current list prices, which every team shares."""

    def __init__(
        self,
        specs: tuple[ModelSpec, ...] = CATALOGUE + EMBEDDING_MODELS + LISTED_ONLY_MODELS,
        started: float | None = None,
        seed: int = 1,
    ) -> None:
        self.specs = specs
        # A chat generation picks among these; embedding models serve embeddings alone.
        self.chat_specs = tuple(spec for spec in specs if spec.type == "language")
        self.embedding_specs = tuple(spec for spec in specs if spec.type == "embedding")
        self.started = time.time() if started is None else started
        self.seed = seed
        self._by_id = {spec.id: spec for spec in specs}
        self.prices: dict[str, dict[str, Decimal]] = {
            spec.id: {
                "input": spec.input_price,
                "output": spec.output_price,
                "cache_read": spec.input_price * CACHE_READ_SHARE,
                "cache_write": spec.input_price * CACHE_WRITE_SHARE,
            }
            for spec in specs
        }
        self.changes: list[dict[str, Any]] = []

    def spec(self, model_id: str | None) -> ModelSpec | None:
        return self._by_id.get(model_id) if model_id is not None else None

    def price(self, spec: ModelSpec, provider: str, token_type: str, prompt: int) -> Decimal:
        """What one token costs now: the tier for the prompt's size on a tiered model (whose
        providers all charge the list price), else the provider's price."""
        base = self.prices[spec.id][token_type]
        if spec.long_prompt is not None:
            return base * LONG_PROMPT_FACTOR if prompt >= spec.long_prompt else base
        return base * PROVIDER_MARKUP.get(provider, Decimal(1))

    def web_search_price(self, spec: ModelSpec) -> Decimal | None:
        """What one web search call of a chat model costs, when its creator prices them."""
        return WEB_SEARCH_PRICES.get(spec.creator) if spec.type == "language" else None

    def cache_savings(
        self, spec: ModelSpec, provider: str, prompt: int, cached: int
    ) -> Decimal | None:
        """The ground truth the exporter must count: None when nothing was cached, or when
        the catalog does not list the model (the exporter counts it as unknown)."""
        if not cached or not spec.listed:
            return None
        full = self.price(spec, provider, "input", prompt)
        return cached * (full - self.price(spec, provider, "cache_read", prompt))

    def set_prices(self, model_id: str, prices: Mapping[str, Decimal], at: float) -> None:
        """A price change from now on (KeyError for a model the simulator does not serve)."""
        current = self.prices[model_id]
        self.changes.append(
            {
                "at": at,
                "model": model_id,
                "before": {k: _text(current[k]) for k in prices},
                "after": {k: _text(v) for k, v in prices.items()},
            }
        )
        current.update(prices)

    def models_answer(self) -> dict[str, Any]:
        """``GET /v1/models``: every listed model, prices as decimal strings per token."""
        return {"object": "list", "data": [self._model(s) for s in self.specs if s.listed]}

    def _model(self, spec: ModelSpec) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": spec.id,
            "object": "model",
            "created": 1755815280,
            "released": 1760486400,
            "owned_by": spec.creator,
            "name": spec.name,
            "description": spec.name,
            "context_window": 200000,
            "max_tokens": 64000,
            "type": spec.type,
            "tags": self._tags(spec),
            "supported_specifications": SPECIFICATIONS,
            "modalities": {"input": ["text"], "output": [_output(spec)]},
            "pricing": self._pricing(spec),
        }
        if spec.deprecated_in_days is not None:
            deprecated = self.started + spec.deprecated_in_days * DAY
            entry["deprecated_at"] = int(deprecated * 1000)
        return entry

    def _tags(self, spec: ModelSpec) -> list[str]:
        """Capability tags, as the catalog and each endpoint list them."""
        if spec.type != "language":
            return []
        tags = ["tool-use", "reasoning"] if spec.reasoning else ["tool-use"]
        return [*tags, "web-search"] if self.web_search_price(spec) is not None else tags

    def _pricing(self, spec: ModelSpec) -> dict[str, Any]:
        """A model's ``pricing``, whose fields depend on its type as in the real catalog."""
        if spec.type == "image":
            return {"image": _text(IMAGE_PRICE)}
        if spec.type == "reranking":
            return {}
        prices = self.prices[spec.id]
        pricing: dict[str, Any] = {MODEL_FIELDS[t]: _text(prices[t]) for t in TOKEN_TYPES}
        if spec.long_prompt is not None:
            pricing |= _tiers(MODEL_FIELDS, prices, spec.long_prompt)
        elif any(provider in PROVIDER_MARKUP for provider in spec.providers):
            pricing["varies_by_provider"] = True  # the endpoints route has each one's price
        web_search = self.web_search_price(spec)
        if web_search is not None:
            pricing["web_search"] = _text(web_search)
        if spec.creator in REGIONAL_CREATORS:
            pricing["regional"] = {
                region: _scaled(MODEL_FIELDS, prices, REGIONAL_FACTOR) for region in REGIONS
            }
        if spec.creator in SERVICE_TIER_CREATORS:
            pricing["service_tiers"] = _service_tiers(MODEL_FIELDS, prices)
        return pricing

    def endpoints_answer(self, model_id: str, now: float) -> tuple[int, dict[str, Any]]:
        """``GET /v1/models/{creator}/{model}/endpoints``: each provider's prices and health
        at ``now``, or the gateway's 404 for a model it does not list."""
        spec = self.spec(model_id)
        if spec is None or not spec.listed:
            error = {"message": f"Model {model_id} not found", "type": "model_not_found"}
            return 404, {"error": error}
        output = _output(spec)
        data = {
            "id": spec.id,
            "name": spec.name,
            "created": 1755815280,
            "released": 1760486400,
            "description": spec.name,
            "architecture": {
                "tokenizer": None,
                "instruct_type": None,
                "modality": f"text→{output}",
                "input_modalities": ["text"],
                "output_modalities": [output],
            },
            "endpoints": [
                self._endpoint(spec, provider, now)
                for provider in (*spec.providers, *spec.idle, *spec.silent)
            ],
        }
        return 200, {"data": data}

    def _endpoint(self, spec: ModelSpec, provider: str, now: float) -> dict[str, Any]:
        """One provider: its own prices, and health that drifts (each provider follows its own
        slow waves, so uptime dips and latency and throughput move) unless it serves no
        traffic lately."""
        prices = {t: self.price(spec, provider, t, 0) for t in TOKEN_TYPES}
        pricing: dict[str, Any] = {ENDPOINT_FIELDS[t]: _text(prices[t]) for t in TOKEN_TYPES}
        if spec.long_prompt is not None:
            pricing |= _tiers(ENDPOINT_FIELDS, prices, spec.long_prompt)
        if provider == "openai":
            pricing["service_tiers"] = _service_tiers(ENDPOINT_FIELDS, prices)
        endpoint: dict[str, Any] = {
            "name": f"{provider} | {spec.id}",
            "model_name": spec.name,
            "context_length": 200000,
            "pricing": pricing | ENDPOINT_FILLER | {"discount": 0},
            "provider_name": provider,
            "tags": self._tags(spec),
            "quantization": None,
            "max_completion_tokens": 64000,
            "max_prompt_tokens": None,
            "supported_parameters": ["max_tokens", "temperature", "stop"],
            "status": 0,  # the only value documented (active); no other is invented
            **self._health(spec, provider, now),
            "supports_implicit_caching": spec.creator == "openai",
        }
        if provider in ZONE_PROVIDERS:
            zone = _scaled(ENDPOINT_FIELDS, prices, REGIONAL_FACTOR)
            endpoint["inference_regions"] = [{"scope": "zone", "geo_region": "us", "pricing": zone}]
        return endpoint

    def _health(self, spec: ModelSpec, provider: str, now: float) -> dict[str, Any]:
        """Uptime, latency and throughput at ``now``. A provider serving no traffic lately has
        no latency or throughput, and uptime at the placeholder or null."""
        if provider in spec.silent:
            return {**dict.fromkeys(UPTIMES), "latency_last_1h": None, "throughput_last_1h": None}
        phase = 2 * math.pi * _unit(str(self.seed), spec.id, provider)
        t = now - self.started

        def wave(period: float) -> float:
            return (1 + math.sin(t / period + phase)) / 2

        uptime_1d = round(100 - wave(43200), 4)  # an idle provider's: measured earlier today
        if provider in spec.idle:
            return {
                "uptime_last_15m": 100,
                "uptime_last_1h": 100,
                "uptime_last_1d": uptime_1d,
                "latency_last_1h": None,
                "throughput_last_1h": None,
            }
        latency = 250 + 1250 * _unit(str(self.seed), spec.id, provider, "latency")
        speed = 40 + 140 * _unit(str(self.seed), spec.id, provider, "throughput")
        p50 = latency * (0.75 + 0.5 * wave(600))
        tokens = speed * (0.8 + 0.4 * wave(900))
        return {
            "uptime_last_15m": round(100 - 5 * wave(300), 4),
            "uptime_last_1h": round(100 - 3 * wave(1800), 4),
            "uptime_last_1d": uptime_1d,
            "latency_last_1h": {"p50": round(p50, 1), "p95": round(p50 * 2.1, 1)},
            "throughput_last_1h": {"p50": round(tokens, 2), "p95": round(tokens * 1.12, 2)},
        }

    def truth(self) -> dict[str, Any]:
        """The current list prices, deprecations and every price change, for tests."""
        return {
            "started": self.started,
            "models": {
                spec.id: {
                    "listed": spec.listed,
                    "prices": {t: _text(v) for t, v in self.prices[spec.id].items()},
                    "deprecated_at": (
                        None
                        if spec.deprecated_in_days is None
                        else self.started + spec.deprecated_in_days * DAY
                    ),
                }
                for spec in self.specs
            },
            "price_changes": self.changes,
        }
