"""The AI Gateway budgets list (``GET /ai-gateway/budgets/list`` of the Vercel REST API) parsed
into Budget records: an entry that cannot be read is skipped and counted by reason, the others
still count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from exporter.gateway.errors import InvalidResponseError
from exporter.gateway.models import to_decimal

T = TypeVar("T")
# The ``budget_source`` label: a budget set on its scope, or one inherited from the team's
# defaults (``source: "default"``, possibly one per API key); "other" for a value not known yet.
SET, DEFAULT, OTHER = "set", "default", "other"
# Why an entry was left out: the ``reason`` label, one per field an entry cannot do without.
SKIP_REASONS = ("not_an_object", "no_scope_type", "no_scope", "bad_limit", "bad_spend", "bad_flag")


@dataclass(frozen=True)
class Budget:
    scope_type: str  # team, project, user or api-key
    scope: str  # scopeId (quotaEntityId when absent)
    name: str  # "" when the budget has none
    refresh_period: str  # daily, weekly, monthly or none
    limit: Decimal
    spend: Decimal
    byok_spend: Decimal | None
    active: bool
    archived: bool
    source: str = SET
    byok_included: bool | None = None  # includeByokInQuota; None when absent or not a bool
    alert_threshold: Decimal | None = None  # the lowest alertThresholds entry, as a ratio

    @property
    def published(self) -> bool:
        """Archived or inactive budgets limit nothing, so they are not shown."""
        return self.active and not self.archived


@dataclass(frozen=True)
class BudgetList:
    """One answer: the budgets that could be read, the entries left out by reason, and what
    the first one of each reason lacked (for the log)."""

    budgets: list[Budget]
    skipped: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)


class Skip(Exception):
    """An entry left out: the reason (one of SKIP_REASONS) and the field at fault."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _required(entry: dict[str, object], name: str, value: T | None, reason: str) -> T:
    if value is None:
        what = "missing" if entry.get(name) is None else "not usable"
        raise Skip(reason, f"{name} is {what}")
    return value


def _text(entry: dict[str, object], *names: str) -> str | None:
    for name in names:
        value = entry.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _flag(entry: dict[str, object], name: str, default: bool) -> bool:
    value = entry.get(name, default)
    if not isinstance(value, bool):
        raise Skip("bad_flag", f"{name} is not a boolean")
    return value


def _lowest_threshold(value: object) -> Decimal | None:
    """The lowest of ``alertThresholds`` (percentages, e.g. [50, 75, 100]) as a ratio; None when
    there is none or the list is not one of numbers in (0, 1000]."""
    if not isinstance(value, list) or not value:
        return None
    numbers = [to_decimal(v) for v in value]
    if any(n is None or not 0 < n <= 1000 for n in numbers):
        return None
    return min(n for n in numbers if n is not None) / 100


def _source(value: object) -> str:
    if value is None:
        return SET
    return DEFAULT if value == "default" else OTHER


def _budget(entry: object) -> Budget:
    """One entry, or Skip naming why it cannot be one."""
    if not isinstance(entry, dict):
        raise Skip("not_an_object", f"an entry is a {type(entry).__name__}, not an object")
    scope_type = _required(entry, "scopeType", _text(entry, "scopeType"), "no_scope_type")
    scope = _text(entry, "scopeId", "quotaEntityId")
    if scope is None:
        raise Skip("no_scope", "neither scopeId nor quotaEntityId is a string")
    limit = _required(entry, "limitAmount", to_decimal(entry.get("limitAmount")), "bad_limit")
    spend = _required(entry, "currentSpend", to_decimal(entry.get("currentSpend")), "bad_spend")
    active, archived = _flag(entry, "active", True), _flag(entry, "archived", False)
    name = entry.get("name")
    byok = entry.get("includeByokInQuota")
    return Budget(
        scope_type=scope_type,
        scope=scope,
        name=name if isinstance(name, str) else "",
        refresh_period=_text(entry, "refreshPeriod") or "none",
        limit=limit,
        spend=spend,
        byok_spend=to_decimal(entry.get("currentByokSpend")),
        active=active,
        archived=archived,
        source=_source(entry.get("source")),
        byok_included=byok if isinstance(byok, bool) else None,
        alert_threshold=_lowest_threshold(entry.get("alertThresholds")),
    )


def parse_budgets(body: object) -> BudgetList:
    """``{"budgets": [Budget, ...]}`` (a missing or null list is empty, as the Vercel CLI reads
    it). An entry without a scope, limit or spend, or with flags that are not booleans, is
    skipped and counted rather than failing the others: budgets are independent of each
    other."""
    if not isinstance(body, dict):
        raise InvalidResponseError("budgets: expected a JSON object")
    entries = body.get("budgets")
    if entries is None:
        return BudgetList([])
    if not isinstance(entries, list):
        raise InvalidResponseError('budgets: expected {"budgets": [...]}')
    answer = BudgetList([])
    for entry in entries:
        try:
            answer.budgets.append(_budget(entry))
        except Skip as skip:
            answer.skipped[skip.reason] += 1
            answer.details.setdefault(skip.reason, skip.detail)
    return answer
