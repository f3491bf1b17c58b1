"""Just enough PromQL reading for lint-style tests of the dashboard and the alert rules.

promtool proves that an expression parses; these helpers answer the questions promtool does not:
which metrics a query selects with which matchers, which aggregation directly encloses each
selector, and which range windows it uses. They expect well-formed PromQL (run promtool first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ]
)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_WINDOW = re.compile(r"\[([^\]:]+)\]")
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)
    start: int
    end: int

    def matcher(self, label: str) -> tuple[str, str] | None:
        for name, op, value in self.matchers:
            if name == label:
                return op, value
        return None


def _mask_strings(expr: str) -> str:
    """The expression with the inside of string literals blanked, offsets unchanged."""
    out = list(expr)
    in_string = False
    escaped = False
    for i, ch in enumerate(expr):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                continue
            out[i] = " "
        elif ch == '"':
            in_string = True
    return "".join(out)


def _parse_matchers(body: str) -> tuple[tuple[str, str, str], ...]:
    matchers = []
    pos = 0
    body = body.strip()
    while pos < len(body):
        match = _MATCHER.match(body, pos)
        if match is None:
            raise ValueError(f"cannot read label matchers {body!r} at {pos}")
        matchers.append((match.group(1), match.group(2), match.group(3)))
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError(f"expected ',' in label matchers {body!r} at {pos}")
            pos += 1
    return tuple(matchers)


def selectors(expr: str, prefix: str = "vercel_ai_gateway_") -> list[Selector]:
    """Every selector of a metric whose name starts with ``prefix`` (bare names included)."""
    masked = _mask_strings(expr)
    found = []
    for match in re.finditer(rf"\b{re.escape(prefix)}[A-Za-z0-9_]*", masked):
        end = match.end()
        rest = masked[end:].lstrip()
        if rest.startswith("("):  # a function whose name has the prefix: none exist
            continue
        if rest.startswith("{"):
            close = masked.index("}", end)
            body = expr[masked.index("{", end) + 1 : close]
            found.append(Selector(match.group(), _parse_matchers(body), match.start(), close + 1))
        else:
            found.append(Selector(match.group(), (), match.start(), end))
    return found


def _paren_pairs(masked: str) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, ch in enumerate(masked):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            pairs[stack.pop()] = i
    if stack:
        raise ValueError("unbalanced parentheses")
    return pairs


def _word_before(masked: str, pos: int) -> tuple[str, int]:
    """The identifier ending just before ``pos`` (skipping spaces) and where it starts."""
    i = pos - 1
    while i >= 0 and masked[i].isspace():
        i -= 1
    end = i + 1
    while i >= 0 and (masked[i].isalnum() or masked[i] in "_:"):
        i -= 1
    return masked[i + 1 : end], i + 1


def enclosing_calls(expr: str, pos: int) -> list[str]:
    """Function and aggregation names around ``pos``, innermost first.

    ``max by (team) (x)`` and ``max(x) by (team)`` both give ``max`` for x; the parentheses of a
    ``by``/``without``/``on``/``ignoring`` label list and plain grouping parentheses are skipped.
    """
    masked = _mask_strings(expr)
    pairs = _paren_pairs(masked)
    close_to_open = {c: o for o, c in pairs.items()}
    names = []
    for open_, close in sorted(pairs.items(), reverse=True):
        if not open_ < pos < close:
            continue
        word, _ = _word_before(masked, open_)
        if word in ("by", "without", "on", "ignoring", "group_left", "group_right"):
            continue  # a label list
        if not word:
            # "max by (team) (" : the word before is a label list's ")"
            i = open_ - 1
            while i >= 0 and masked[i].isspace():
                i -= 1
            if i >= 0 and masked[i] == ")" and i in close_to_open:
                clause, clause_start = _word_before(masked, close_to_open[i])
                if clause in ("by", "without"):
                    word, _ = _word_before(masked, clause_start)
        if word:
            names.append(word)
    return names


def nearest_aggregation(expr: str, pos: int) -> str | None:
    """The innermost aggregation operator around ``pos``, or None."""
    for name in enclosing_calls(expr, pos):
        if name in AGGREGATIONS:
            return name
    return None


def duration_seconds(text: str) -> float:
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text) != "":
        raise ValueError(f"not a PromQL duration: {text!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


@dataclass(frozen=True)
class RangeWindow:
    text: str  # what is between the brackets, e.g. "$__rate_interval" or "6h"
    function: str | None  # the function applied to the range, e.g. "rate"
    metric: str | None  # the selector it ranges over


def range_windows(expr: str) -> list[RangeWindow]:
    """Every ``[window]`` of a range selector (subqueries excluded) with its function."""
    masked = _mask_strings(expr)
    out = []
    for match in _WINDOW.finditer(masked):
        before = masked[: match.start()].rstrip()
        metric = None
        if before.endswith("}"):
            open_brace = before.rindex("{")
            metric, _ = _word_before(masked, open_brace)
        else:
            metric, _ = _word_before(masked, len(before))
        calls = enclosing_calls(expr, match.start())
        out.append(
            RangeWindow(
                expr[match.start() + 1 : match.end() - 1].strip(),
                calls[0] if calls else None,
                metric or None,
            )
        )
    return out


def identifiers(expr: str) -> set[str]:
    """All identifiers outside string literals (metric, function and label names)."""
    return set(_IDENT.findall(_mask_strings(expr)))
