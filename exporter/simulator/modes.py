"""How the simulated account answers where the real API's behaviour is undocumented or varies
from account to account: each such case is a mode, so tests and the demo can meet every
answer the exporter must handle.

Faults (faults.py) are misbehaviour that comes and goes; modes are facts of the account or
choices among answers the documentation allows, and last until switched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

# What each mode may be; the first value is the default.
CHOICES: dict[str, tuple[object, ...]] = {
    # An ID of another team's generation: 404 as if unknown, or 403 (the reference cannot
    # say which the gateway sends).
    "foreign_generations": ("not_found", "forbidden"),
    # date_part=hour with a group_by other than day: rows split by hour next to the group (the
    # docs' example), or date_part ignored (the docs' parameter table) with rows per group.
    "hourly_groups": ("split", "ignored"),
    # The budgets list also carries entries of unexpected shapes.
    "odd_budgets": (False, True),
}


@dataclass(frozen=True)
class Modes:
    foreign_generations: str = "not_found"
    hourly_groups: str = "split"
    odd_budgets: bool = False

    def updated(self, body: Any) -> Modes:
        """These modes with the ones ``body`` sets; ValueError says what is wrong."""
        if not isinstance(body, dict) or not body:
            raise ValueError("expected a JSON object of modes")
        for key, value in body.items():
            allowed = CHOICES.get(key)
            if allowed is None:
                raise ValueError(f"unknown mode {key!r} (known: {', '.join(CHOICES)})")
            if value not in allowed or type(value) is not type(allowed[0]):
                raise ValueError(f"{key} must be one of {', '.join(map(repr, allowed))}")
        return replace(self, **body)

    def describe(self) -> dict[str, object]:
        return asdict(self)
