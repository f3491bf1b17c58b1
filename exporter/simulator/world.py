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

from exporter.simulator.catalog import ModelSpec, SimCatalog

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CENT_MICRO = Decimal("0.00000001")
# What the gateway adds to the provider's price, in the simulator's model of it: surcharges for
# zero data retention and for each Custom Reporting write (the user ID and every tag, $0.075 per
# 1,000), and a fee per billable web search at the model's web search price (priced like the
# inference, so part of the market cost, not a surcharge). A live record shows a 0.0001 USD
# surcharge on a 0.000038 USD request, so surcharges are routine, BYOK requests included.
ZDR_SURCHARGE = Decimal("0.0001")
REPORTING_WRITE = Decimal("0.000075")


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


@dataclass(frozen=True)
class SimAttempt:
    """One call the gateway made to a provider for a request."""

    model: str
    provider: str
    outcome: str  # success, timeout, or the error type
    status: int  # the provider's HTTP status (504 for a timeout)

    def truth(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "outcome": self.outcome,
            "status": self.status,
        }


# Why a provider call fails, and the status it answers with; and why a request fails.
ATTEMPT_ERRORS = (("rate_limited", 429), ("provider_error", 500), ("overloaded", 529))
REQUEST_ERRORS = (
    ("rate_limit_exceeded", 429),
    ("provider_error", 502),
    ("service_unavailable", 503),
    ("invalid_request", 400),
)


@dataclass
class SimFailure:
    """A request the gateway answered with an error: it has an ID, a trace and attempts,
    and no generation record (a lookup answers 404), and it costs nothing."""

    id: str
    created_at: float
    model: str
    provider: str
    operation: str
    status: int
    error_type: str
    duration_ms: int
    attempts: tuple[SimAttempt, ...]

    def truth(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "model": self.model,
            "provider": self.provider,
            "operation": self.operation,
            "status": self.status,
            "error_type": self.error_type,
            "duration_ms": self.duration_ms,
            "attempts": [attempt.truth() for attempt in self.attempts],
        }


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
    cache_savings: Decimal | None = None  # what the exporter must count (catalog.py)
    surcharge: Decimal = Decimal(0)  # part of total_cost, BYOK or not
    web_search_fee: Decimal = Decimal(0)  # part of total_cost, BYOK or not
    operation: str = "chat"  # chat or embeddings: what the trace drain's spans say
    # How the gateway served it: the models tried first and failed (fallback models), and
    # every provider call in order, the last one the answer.
    fallbacks: tuple[str, ...] = ()
    attempts: tuple[SimAttempt, ...] = ()

    @property
    def market_cost(self) -> Decimal:
        """The inference at the provider's price, whoever paid it."""
        if self.is_byok:
            return self.upstream_inference_cost
        return self.total_cost - self.surcharge

    def add_gateway_charges(self, web_search_price: Decimal) -> None:
        """Complete a record as the gateway does: its surcharges and fees join total_cost (for
        BYOK, they are all of it), and an unstreamed answer's first token is its last, so its
        latency is the whole generation time."""
        writes = 1 + len(self.tags)  # the user ID and each tag
        self.surcharge = REPORTING_WRITE * writes + (
            ZDR_SURCHARGE if self.zero_data_retention else Decimal(0)
        )
        self.web_search_fee = web_search_price * self.web_search_calls
        self.total_cost += self.surcharge + self.web_search_fee
        if not self.streamed:
            self.latency_ms = self.generation_time_ms

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
            # The breakdown newer records carry: total_cost is what was debited (gateway_cost
            # repeats it), market_cost plus surcharge_cost for system credentials.
            "market_cost": self.market_cost,
            "surcharge_cost": self.surcharge,
            "gateway_cost": self.total_cost,
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
            "surcharge": str(self.surcharge),
            "web_search_fee": str(self.web_search_fee),
            "cache_savings": None if self.cache_savings is None else str(self.cache_savings),
            "operation": self.operation,
            "fallbacks": list(self.fallbacks),
            "attempts": [attempt.truth() for attempt in self.attempts],
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
    catalog: SimCatalog = field(default_factory=SimCatalog)  # shared by a simulator's teams
    failures: dict[str, SimFailure] = field(default_factory=dict)
    # How requests are routed, embeddings and failures: drawn apart from ``rng``, so the
    # generations a seed makes stay the same whether or not anything else is asked for.
    routing: random.Random = field(default_factory=random.Random)
    web_search_share: float = 0.05  # of chat generations that make a billable web search

    def __post_init__(self) -> None:
        self.routing.seed(f"{self.name}:routing")

    def generate(self, now: float, ready_delay: float, model: str | None = None) -> SimGeneration:
        """Make one generation now, charge it, and return it."""
        rng = self.rng
        catalog = self.catalog
        spec = catalog.spec(model) or rng.choice(catalog.chat_specs)
        prompt = max(1, int(rng.lognormvariate(7.0, 1.0)))
        completion = max(1, int(rng.lognormvariate(5.5, 1.0)))
        thinks = spec.reasoning and rng.random() < 0.5
        reasoning = int(completion * rng.uniform(0.5, 3.0)) if thinks else 0
        cached = int(prompt * rng.uniform(0.2, 0.9)) if rng.random() < 0.4 else 0
        cache_write = int(prompt * rng.uniform(0.1, 0.5)) if rng.random() < 0.1 else 0
        byok = rng.random() < 0.1
        latency = int(rng.uniform(150, 1800))
        throughput = rng.uniform(40, 180)
        gen_id = "gen_" + new_ulid(rng, int(now * 1000))
        provider = rng.choice(spec.providers)
        search_price = catalog.web_search_price(spec)

        def price(token_type: str) -> Decimal:
            return catalog.price(spec, provider, token_type, prompt)

        cost = (
            (prompt - cached) * price("input")
            + cached * price("cache_read")
            + cache_write * price("cache_write")
            + (completion + reasoning) * price("output")
        ).quantize(CENT_MICRO, rounding=ROUND_HALF_UP)
        gen = SimGeneration(
            id=gen_id,
            created_at=now,
            ready_at=now + ready_delay,
            model=spec.id,
            provider_name=provider,
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
            # Drawn for every model, so a seed's traffic stays put; only a model with a web
            # search price searches.
            web_search_calls=int(rng.random() < self.web_search_share and search_price is not None),
            user=rng.choice(USERS),
            tags=tuple(sorted(rng.sample(TAGS, rng.randint(0, 2)))),
            api_key_name=rng.choice(API_KEY_NAMES),
            zero_data_retention=rng.random() < 0.2,
            cache_savings=catalog.cache_savings(spec, provider, prompt, cached),
        )
        gen.add_gateway_charges(search_price or Decimal(0))
        gen.fallbacks, gen.attempts = self._route(spec, provider)
        self._charge(gen)
        return gen

    def _charge(self, gen: SimGeneration) -> None:
        self.generations[gen.id] = gen
        self.balance -= gen.total_cost
        self.total_used += gen.total_cost

    def _route(
        self, spec: ModelSpec, provider: str
    ) -> tuple[tuple[str, ...], tuple[SimAttempt, ...]]:
        """The models tried first and the provider calls of a request ``provider`` served
        with ``spec``:
        mostly one call; some fail over to another provider of the model (a failed call or a
        timeout first), some fall back from another model whose calls failed."""
        rng = self.routing
        served = SimAttempt(spec.id, provider, "success", 200)
        draw = rng.random()
        if draw < 0.1 and len(spec.providers) > 1:
            first = next(p for p in spec.providers if p != provider)
            return (), (self._failed_attempt(spec.id, first), served)
        if draw < 0.16:
            others = [s for s in self.catalog.specs if s.type == spec.type and s is not spec]
            if others:
                tried = rng.choice(others)
                failed = self._failed_attempt(tried.id, rng.choice(tried.providers))
                return (tried.id,), (failed, served)
        return (), (served,)

    def _failed_attempt(self, model: str, provider: str) -> SimAttempt:
        if self.routing.random() < 0.3:
            return SimAttempt(model, provider, "timeout", 504)
        error, status = self.routing.choice(ATTEMPT_ERRORS)
        return SimAttempt(model, provider, error, status)

    def embed(self, now: float, ready_delay: float) -> SimGeneration:
        """One embedding request: input tokens only, not streamed, priced at the model's
        input price, with a record like any generation."""
        rng = self.routing
        spec = rng.choice(self.catalog.embedding_specs)
        provider = rng.choice(spec.providers)
        tokens = max(1, int(rng.lognormvariate(6.0, 1.0)))
        cost = (tokens * self.catalog.price(spec, provider, "input", tokens)).quantize(
            CENT_MICRO, rounding=ROUND_HALF_UP
        )
        took = int(rng.uniform(40, 400))
        gen = SimGeneration(
            id="gen_" + new_ulid(rng, int(now * 1000)),
            created_at=now,
            ready_at=now + ready_delay,
            model=spec.id,
            provider_name=provider,
            total_cost=cost,
            upstream_inference_cost=Decimal(0),
            is_byok=False,
            streamed=False,
            finish_reason="stop",
            latency_ms=took,
            generation_time_ms=took,
            tokens_prompt=tokens,
            tokens_completion=0,
            tokens_reasoning=0,
            tokens_cached=0,
            tokens_cache_creation=0,
            web_search_calls=0,
            user=rng.choice(USERS),
            tags=(),
            api_key_name=rng.choice(API_KEY_NAMES),
            zero_data_retention=False,
            operation="embeddings",
            attempts=(SimAttempt(spec.id, provider, "success", 200),),
        )
        self._charge(gen)
        return gen

    def fail(self, now: float) -> SimFailure:
        """A request the gateway answers with an error after its provider calls failed."""
        rng = self.routing
        spec = rng.choice(self.catalog.chat_specs)
        error, status = rng.choice(REQUEST_ERRORS)
        calls = [] if status == 400 else spec.providers[: rng.randint(1, len(spec.providers))]
        failure = SimFailure(
            id="gen_" + new_ulid(rng, int(now * 1000)),
            created_at=now,
            model=spec.id,
            provider=calls[-1] if calls else spec.providers[0],
            operation="chat",
            status=status,
            error_type=error,
            duration_ms=int(rng.uniform(50, 3000)),
            attempts=tuple(self._failed_attempt(spec.id, provider) for provider in calls),
        )
        self.failures[failure.id] = failure
        return failure

    def top_up(self, now: float, amount: Decimal) -> None:
        self.balance += amount
        self.topups.append((now, amount))

    def truth(self) -> dict[str, Any]:
        return {
            "balance": str(self.balance),
            "total_used": str(self.total_used),
            "topups": [{"at": at, "amount": str(amount)} for at, amount in self.topups],
            "generations": [g.truth() for g in self.generations.values()],
            "failures": [f.truth() for f in self.failures.values()],
        }
