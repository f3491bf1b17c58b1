"""The simulator's seeded traffic model: generations, their cost, the balance they consume.

Each team (one per API key) is a world of its own. Money is Decimal throughout and every cost
has at most 8 decimals, so a JSON number written from it parses back to the identical value.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CENT_MICRO = Decimal("0.00000001")


@dataclass(frozen=True)
class ModelSpec:
    id: str
    name: str
    providers: tuple[str, ...]
    input_price: Decimal  # USD per token
    output_price: Decimal
    reasoning: bool = False


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
    ),
    ModelSpec(
        "google/gemini-2.5-flash",
        "Gemini 2.5 Flash",
        ("vertex",),
        Decimal("0.0000003"),
        Decimal("0.0000025"),
        reasoning=True,
    ),
    ModelSpec(
        "meta/llama-4-maverick",
        "Llama 4 Maverick",
        ("groq", "cerebras"),
        Decimal("0.0000002"),
        Decimal("0.0000006"),
    ),
    ModelSpec(
        "deepseek/deepseek-v3.2",
        "DeepSeek V3.2",
        ("novita", "deepinfra"),
        Decimal("0.00000027"),
        Decimal("0.0000011"),
    ),
)
USERS = ("user-ada", "user-grace", "user-linus", "user-margaret", "user-ken")
TAGS = ("chat", "search", "batch", "agent", "eval")
API_KEY_NAMES = ("prod-backend", "prod-worker", "staging")
FINISH_REASONS = (("stop", 85), ("length", 7), ("tool_calls", 6), ("content_filter", 2))


def new_ulid(rng: random.Random, millis: int) -> str:
    """A ULID: 48-bit millisecond time then 80 random bits, Crockford base32."""
    value = (millis << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def iso_utc(ts: float) -> str:
    return (
        datetime.fromtimestamp(ts, tz=timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


@dataclass
class SimGeneration:
    """One generation as the gateway records it, plus the simulator-only dimensions."""

    id: str
    created_at: float
    ready_at: float
    model: str
    provider_name: str
    total_cost: Decimal
    upstream_inference_cost: Decimal
    is_byok: bool
    streamed: bool
    finish_reason: str
    latency_ms: int
    generation_time_ms: int
    tokens_prompt: int
    tokens_completion: int
    tokens_reasoning: int
    tokens_cached: int
    tokens_cache_creation: int
    web_search_calls: int
    user: str
    tags: tuple[str, ...]
    api_key_name: str
    zero_data_retention: bool

    @property
    def market_cost(self) -> Decimal:
        return self.upstream_inference_cost if self.is_byok else self.total_cost

    def record(self) -> dict[str, Any]:
        """The ``data`` object of ``GET /v1/generation`` (costs as exact JSON numbers)."""
        return {
            "id": self.id,
            "total_cost": self.total_cost,
            "upstream_inference_cost": self.upstream_inference_cost,
            "usage": self.total_cost,
            "created_at": iso_utc(self.created_at),
            "model": self.model,
            "is_byok": self.is_byok,
            "provider_name": self.provider_name,
            "streamed": self.streamed,
            "finish_reason": self.finish_reason,
            "latency": self.latency_ms,
            "generation_time": self.generation_time_ms,
            "tokens_prompt": self.tokens_prompt,
            "tokens_completion": self.tokens_completion,
            "native_tokens_prompt": self.tokens_prompt,
            "native_tokens_completion": self.tokens_completion,
            "native_tokens_reasoning": self.tokens_reasoning,
            "native_tokens_cached": self.tokens_cached,
            "native_tokens_cache_creation": self.tokens_cache_creation,
            "billable_web_search_calls": self.web_search_calls,
        }

    def truth(self) -> dict[str, Any]:
        """Ground truth for tests: everything, money as exact strings."""
        return {
            **self.record(),
            "total_cost": str(self.total_cost),
            "upstream_inference_cost": str(self.upstream_inference_cost),
            "usage": str(self.total_cost),
            "market_cost": str(self.market_cost),
            "ready_at": self.ready_at,
            "user": self.user,
            "tags": list(self.tags),
            "api_key_name": self.api_key_name,
            "credential_type": "byok" if self.is_byok else "system",
            "zero_data_retention": self.zero_data_retention,
        }


def world_name_for(key: str) -> str:
    """A stable team name for a key that was not given one (never the key itself)."""
    return "team-" + hashlib.sha256(key.encode()).hexdigest()[:8]


@dataclass
class TeamWorld:
    """One team: its balance, lifetime spend and generations."""

    name: str
    rng: random.Random
    balance: Decimal
    total_used: Decimal = Decimal(0)
    generations: dict[str, SimGeneration] = field(default_factory=dict)
    topups: list[tuple[float, Decimal]] = field(default_factory=list)

    def generate(self, now: float, ready_delay: float, model: str | None = None) -> SimGeneration:
        """Make one generation now, charge it, and return it."""
        rng = self.rng
        spec = next((m for m in CATALOGUE if m.id == model), None) or rng.choice(CATALOGUE)
        prompt = max(1, int(rng.lognormvariate(7.0, 1.0)))
        completion = max(1, int(rng.lognormvariate(5.5, 1.0)))
        thinks = spec.reasoning and rng.random() < 0.5
        reasoning = int(completion * rng.uniform(0.5, 3.0)) if thinks else 0
        cached = int(prompt * rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else 0
        cache_write = int(prompt * rng.uniform(0.1, 0.5)) if rng.random() < 0.1 else 0
        cost = (
            (prompt - cached) * spec.input_price
            + cached * spec.input_price / 10
            + cache_write * spec.input_price * Decimal("1.25")
            + (completion + reasoning) * spec.output_price
        ).quantize(CENT_MICRO, rounding=ROUND_HALF_UP)
        byok = rng.random() < 0.1
        latency = int(rng.uniform(150, 1800))
        throughput = rng.uniform(40, 180)
        gen = SimGeneration(
            id="gen_" + new_ulid(rng, int(now * 1000)),
            created_at=now,
            ready_at=now + ready_delay,
            model=spec.id,
            provider_name=rng.choice(spec.providers),
            total_cost=Decimal(0) if byok else cost,
            upstream_inference_cost=cost if byok else Decimal(0),
            is_byok=byok,
            streamed=rng.random() < 0.7,
            finish_reason=rng.choices(
                [r for r, _ in FINISH_REASONS], [w for _, w in FINISH_REASONS]
            )[0],
            latency_ms=latency,
            generation_time_ms=latency + int((completion + reasoning) / throughput * 1000),
            tokens_prompt=prompt,
            tokens_completion=completion,
            tokens_reasoning=reasoning,
            tokens_cached=cached,
            tokens_cache_creation=cache_write,
            web_search_calls=1 if rng.random() < 0.05 else 0,
            user=rng.choice(USERS),
            tags=tuple(sorted(rng.sample(TAGS, rng.randint(0, 2)))),
            api_key_name=rng.choice(API_KEY_NAMES),
            zero_data_retention=rng.random() < 0.2,
        )
        self.generations[gen.id] = gen
        self.balance -= gen.total_cost
        self.total_used += gen.total_cost
        return gen

    def top_up(self, now: float, amount: Decimal) -> None:
        self.balance += amount
        self.topups.append((now, amount))

    def truth(self) -> dict[str, Any]:
        return {
            "balance": str(self.balance),
            "total_used": str(self.total_used),
            "topups": [{"at": at, "amount": str(amount)} for at, amount in self.topups],
            "generations": [g.truth() for g in self.generations.values()],
        }
