"""Ways the simulated gateway can be told to misbehave, and how each one answers."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

FAULT_MODES = (
    "rate_limit",  # 429, with Retry-After in seconds, as an HTTP date, or none
    "server_error",  # 500 with the nested envelope
    "unavailable",  # 503 with the nested envelope
    "unauthorized",  # 401 with the nested envelope
    "slow",  # the normal answer after ``delay`` seconds
    "hang",  # no answer for ``delay`` seconds (default 60), then a 504
    "malformed",  # 200 with a body that is not JSON
    "truncated",  # 200 with JSON cut off halfway
    "html",  # 200 with an HTML page
    "not_found_html",  # 404 with an HTML page: what a URL that is no AI Gateway answers
    "quota_exceeded",  # 402 quota_for_entity_exceeded: a budget blocks the key
    "numbers",  # numbers where the docs say decimal strings
    "missing_fields",  # documented fields left out
    "null_fields",  # documented fields set to null
    "wrong_types",  # strings for numbers, numbers for strings and booleans
    "absurd",  # negative and NaN money, 10^12 tokens, negative latencies
    "reset",  # the connection is cut in the middle of the answer
    "hostile_strings",  # model, provider, finish reason and report groups no label can hold
)
BODY_FAULTS = (
    "numbers",
    "missing_fields",
    "null_fields",
    "wrong_types",
    "absurd",
    "hostile_strings",
)
# Strings that are legal JSON yet break a naive exposition: a lone UTF-16 surrogate (sent as
# the escape \ud800), control characters, a newline, quotes, and absurd length.
HOSTILE_STRINGS = (
    "anthropic/claude-\ud800",
    "line\nbreak\x00\x1b[31m",
    'quote"back\\slash',
    "x" * 100_000,
)
_HOSTILE_FIELDS = ("model", "provider_name", "finish_reason")
_REPORT_GROUPS = ("model", "provider", "user", "tag", "api_key_name")

# Values no real gateway sends; the exporter must reject and count them, never publish them.
_ABSURD = {
    "balance": "NaN",
    "total_used": "-12.5",
    "total_cost": -0.5,
    "upstream_inference_cost": -3,
    "usage": -0.5,
    "latency": -250,
    "generation_time": 1e15,
    "native_tokens_prompt": 10**12,
    "native_tokens_completion": -7,
    "native_tokens_reasoning": 10**12,
    "billable_web_search_calls": -1,
}
ENDPOINTS = ("credits", "generation", "report", "models", "budgets")


@dataclass
class Fault:
    mode: str
    endpoints: frozenset[str] | None = None  # None: every endpoint
    remaining: int | None = None  # None: until cleared
    retry_after: float | None = 5.0
    retry_after_format: str = "seconds"  # seconds | date | none
    delay: float = 2.0

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """Build from the control endpoint's JSON; ValueError says what is wrong."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        mode = body.get("mode")
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        endpoints = body.get("endpoints")
        if endpoints is not None and (
            not isinstance(endpoints, list) or not set(endpoints) <= set(ENDPOINTS)
        ):
            raise ValueError(f"endpoints must be a list drawn from {', '.join(ENDPOINTS)}")
        fmt = body.get("retry_after_format", "seconds")
        if fmt not in ("seconds", "date", "none"):
            raise ValueError("retry_after_format must be seconds, date or none")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        return cls(
            mode=mode,
            endpoints=frozenset(endpoints) if endpoints is not None else None,
            remaining=count,
            retry_after=float(body.get("retry_after", 5.0)),
            retry_after_format=fmt,
            delay=float(body.get("delay", 60.0 if mode == "hang" else 2.0)),
        )

    def applies_to(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def consume(self) -> None:
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def retry_after_header(self, now: float) -> dict[str, str]:
        if self.retry_after is None or self.retry_after_format == "none":
            return {}
        if self.retry_after_format == "date":
            return {"Retry-After": formatdate(now + self.retry_after, usegmt=True)}
        return {"Retry-After": str(int(self.retry_after))}

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "endpoints": sorted(self.endpoints) if self.endpoints is not None else None,
            "remaining": self.remaining,
            "retry_after": self.retry_after,
            "retry_after_format": self.retry_after_format,
            "delay": self.delay,
        }


def degrade(body: dict[str, Any], mode: str) -> dict[str, Any]:
    """Apply a body-shape fault (one of BODY_FAULTS) to a successful answer."""
    target = body["data"] if isinstance(body.get("data"), dict) else body
    changed = dict(target)
    keys = [k for k in changed if k != "id"]
    if mode == "numbers":
        for key, value in changed.items():
            if isinstance(value, str) and key in ("balance", "total_used"):
                changed[key] = float(value)
    elif mode == "missing_fields":
        for key in keys[::2]:
            del changed[key]
    elif mode == "null_fields":
        for key in keys[::2]:
            changed[key] = None
    elif mode == "wrong_types":
        for key, value in changed.items():
            if key == "id":
                continue
            if isinstance(value, bool):
                changed[key] = "yes" if value else "no"
            elif isinstance(value, str):
                changed[key] = True if key in ("balance", "total_used") else 42
            else:
                changed[key] = f"{value} tokens" if key.startswith("native") else "n/a"
    elif mode == "absurd":
        changed.update({k: v for k, v in _ABSURD.items() if k in changed})
    elif mode == "hostile_strings":
        return _hostile(body)
    return {**body, "data": changed} if target is not body else changed


def _hostile(body: dict[str, Any]) -> dict[str, Any]:
    """Every label-bound string of a generation record or of report rows made hostile."""
    if isinstance(body.get("results"), list):  # a report: its group values
        rows = [
            {k: HOSTILE_STRINGS[i % len(HOSTILE_STRINGS)] if k in _REPORT_GROUPS else v
             for k, v in row.items()}
            for i, row in enumerate(body["results"])
        ]  # fmt: skip
        return {**body, "results": rows}
    data = dict(body["data"]) if isinstance(body.get("data"), dict) else dict(body)
    for index, field in enumerate(_HOSTILE_FIELDS):
        if field in data:
            data[field] = HOSTILE_STRINGS[index]
    return {**body, "data": data} if isinstance(body.get("data"), dict) else data
