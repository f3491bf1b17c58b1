"""Refused intake requests: counted, logged (once per path, reason and minute) and listed on
the landing page, so a batch answered 413 or a drain answered 403 never disappears in silence.

OTLP exporters report a failed export only to their own diagnostics (silent by default in the
OpenTelemetry JS SDK) and do not retry a 4xx, and Vercel shows a drain's errors only in its
dashboard: the exporter is where the operator looks, so it says what it refused and why.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter import routes
from exporter.clock import Clock
from exporter.metrics import INTAKE_REQUESTS_REFUSED
from exporter.redaction import SECRETS

log = logging.getLogger(__name__)

LOG_EVERY = 60.0  # seconds between two log lines of one path and reason
MAX_MESSAGE = 300  # characters of a refusal's message kept for the landing page

# The reason label of a refusal by its HTTP status (403 says which signature check failed).
BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    413: "too_large",
    415: "unsupported",
    429: "busy",
    431: "bad_request",
    503: "busy",
}
REASONS = (
    "bad_request",
    "unauthorized",
    "signature_malformed",
    "signature_mismatch",
    "too_large",
    "unsupported",
    "busy",
)


def reason_of(status: int) -> str:
    return BY_STATUS.get(status, "bad_request")


@dataclass(frozen=True)
class Refusal:
    """The refusals of one path and reason since the start: how many, the last one."""

    path: str
    reason: str
    count: int
    last_at: float  # wall time
    last_message: str


class Refusals(Collector):
    """Every intake refusal of this process, by path and reason."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts: Counter[tuple[str, str]] = Counter(
            {(path, reason): 0 for path in sorted(routes.INTAKE) for reason in REASONS}
        )
        self._last: dict[tuple[str, str], tuple[float, str]] = {}
        self._logged: dict[tuple[str, str], float] = {}

    def refuse(self, path: str, reason: str, status: int, message: str) -> None:
        key = (path, reason)
        self._counts[key] += 1
        message = SECRETS.mask(message)[:MAX_MESSAGE]
        self._last[key] = (self._clock.time(), message)
        now = self._clock.monotonic()
        logged = self._logged.get(key)
        if logged is None or now - logged >= LOG_EVERY:
            self._logged[key] = now
            log.warning(
                "intake request refused",
                extra={
                    "path": path,
                    "reason": reason,
                    "status": status,
                    "error": message,
                    "refused_so_far": self._counts[key],
                },
            )

    def recent(self) -> Sequence[Refusal]:
        """Each path and reason refused at least once, the latest first."""
        rows = [
            Refusal(path, reason, self._counts[(path, reason)], at, message)
            for (path, reason), (at, message) in self._last.items()
        ]
        return sorted(rows, key=lambda row: row.last_at, reverse=True)

    def collect(self) -> Iterable[Metric]:
        family = INTAKE_REQUESTS_REFUSED.counter()
        for (path, reason), count in sorted(self._counts.items()):
            family.add_metric([path, reason], count)
        return [family]
