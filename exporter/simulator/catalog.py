"""The simulator's model catalog: the models it generates, their prices, and the two public
routes that publish them (``GET /v1/models`` and each model's endpoints).

Prices are the single truth of the simulated world: a generation costs what they say at the
moment it is made, and its cache savings (cached tokens times input minus cache-read price)
follow from the same numbers, so tests compare the exporter's savings exactly. The catalog
holds what the real one shows: a tiered model, providers charging their own prices, a model
deprecated within 30 days and one in 60, a model served but not listed, and provider health
that drifts with time. A price change is a control call (``POST /_sim/prices``).
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
IDLE_SHARE = 0.125  # providers serving none of the gateway's traffic lately
LONG_PROMPT_FACTOR = Decimal(2)  # a tiered model's price from its long_prompt bound up
CACHE_READ_SHARE = Decimal("0.1")  # a cache read costs a tenth of an input token at first
CACHE_WRITE_SHARE = Decimal("1.25")


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
    type: str = "language"  # the catalog's type: language, embedding …


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
_SYNTHETIC_PROVIDERS = ("alpha", "beta", "gamma", "delta", "epsilon")


def catalogue(models: int | None = None) -> tuple[ModelSpec, ...]:
    """The built-in models, followed by synthetic ones up to ``models`` in all (stress runs)."""
    built_in = CATALOGUE + EMBEDDING_MODELS
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


def _unit(*parts: str) -> float:
    """A stable number in [0, 1) for ``parts``: each provider drifts its own way."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimCatalog:
    """The models of one simulator and their current list prices, which every team shares."""

    def __init__(
        self,
        specs: tuple[ModelSpec, ...] = CATALOGUE + EMBEDDING_MODELS,
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
        prices = self.prices[spec.id]
        pricing: dict[str, Any] = {MODEL_FIELDS[t]: _text(prices[t]) for t in TOKEN_TYPES}
        if spec.long_prompt is not None:
            for token_type in TOKEN_TYPES:
                base = prices[token_type]
                pricing[f"{MODEL_FIELDS[token_type]}_tiers"] = [
                    {"cost": _text(base), "min": 0, "max": spec.long_prompt},
                    {"cost": _text(base * LONG_PROMPT_FACTOR), "min": spec.long_prompt},
                ]
        entry: dict[str, Any] = {
            "id": spec.id,
            "object": "model",
            "created": 1755815280,
            "released": 1760486400,
            "owned_by": spec.id.split("/")[0],
            "name": spec.name,
            "description": spec.name,
            "context_window": 200000,
            "max_tokens": 64000,
            "type": spec.type,
            "tags": ["reasoning"] if spec.reasoning else [],
            # Always present in the real catalog; the values here are invented.
            "supported_specifications": ["openai-chat", "ai-sdk"]
            if spec.type == "language"
            else ["ai-sdk"],
            "modalities": {
                "input": ["text"],
                "output": ["text" if spec.type == "language" else spec.type],
            },
            "pricing": pricing,
        }
        if spec.deprecated_in_days is not None:
            deprecated = self.started + spec.deprecated_in_days * DAY
            entry["deprecated_at"] = int(deprecated * 1000)
        return entry

    def endpoints_answer(self, model_id: str, now: float) -> tuple[int, dict[str, Any]]:
        """``GET /v1/models/{creator}/{model}/endpoints``: each provider's prices and health
        at ``now``, or the gateway's 404 for a model it does not list."""
        spec = self.spec(model_id)
        if spec is None or not spec.listed:
            error = {"message": f"Model {model_id} not found", "type": "model_not_found"}
            return 404, {"error": error}
        endpoints = [self._endpoint(spec, provider, now) for provider in spec.providers]
        return 200, {"data": {"id": spec.id, "name": spec.name, "endpoints": endpoints}}

    def _endpoint(self, spec: ModelSpec, provider: str, now: float) -> dict[str, Any]:
        """Health that drifts: each provider follows its own slow waves, so uptime dips,
        latency and throughput move, and status leaves 0 at the dips."""
        phase = 2 * math.pi * _unit(str(self.seed), spec.id, provider)
        latency = 250 + 1250 * _unit(str(self.seed), spec.id, provider, "latency")
        speed = 40 + 140 * _unit(str(self.seed), spec.id, provider, "throughput")
        t = now - self.started

        def wave(period: float) -> float:
            return (1 + math.sin(t / period + phase)) / 2

        uptime_15m = 100 - 5 * wave(300)
        p50 = latency * (0.75 + 0.5 * wave(600))
        tokens = speed * (0.8 + 0.4 * wave(900))
        # About one provider in eight serves none of the gateway's traffic: no latency or
        # throughput, and 100 % uptime as a placeholder (shape as described; values invented).
        idle = _unit(str(self.seed), spec.id, provider, "idle") < IDLE_SHARE
        return {
            "name": f"{provider} | {spec.id}",
            "provider_name": provider,
            "context_length": 200000,
            "max_completion_tokens": 64000,
            "pricing": {
                ENDPOINT_FIELDS[t]: _text(self.price(spec, provider, t, 0)) for t in TOKEN_TYPES
            },
            "status": 0,  # the only value documented (active); no other is invented
            "uptime_last_15m": 100 if idle else round(uptime_15m, 4),
            "uptime_last_1h": 100 if idle else round(100 - 3 * wave(1800), 4),
            "uptime_last_1d": 100 if idle else round(100 - wave(43200), 4),
            "latency_last_1h": None if idle else {"p50": round(p50, 1), "p95": round(p50 * 2.1, 1)},
            "throughput_last_1h": (
                None if idle else {"p50": round(tokens, 2), "p95": round(tokens * 1.12, 2)}
            ),
            "supports_implicit_caching": spec.id.startswith("openai/"),
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
