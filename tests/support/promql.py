"""Just enough PromQL reading for lint-style tests of the dashboard and the rules.

promtool proves that an expression parses; these helpers answer the questions promtool does not:
which metrics a query selects with which matchers, which aggregations enclose each selector and
what they keep, and which range windows it uses. They expect well-formed PromQL (run promtool
first). The last part checks a selector against the metric contract, ``exporter.metrics``: its
labels, how it combines exporter replicas, and the labels that must be fixed before summing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from exporter import metrics
from exporter.metrics import Family, Replicas, Type

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


_LABEL_LIST_WORDS = ("by", "without", "on", "ignoring", "group_left", "group_right")
_KEYWORDS = frozenset([*_LABEL_LIST_WORDS, "bool", "and", "or", "unless", "offset", "inf", "nan"])
_NAME = re.compile(r"(?<![\w.:$])[A-Za-z_:][A-Za-z0-9_:]*")


def _metric_text(masked: str) -> str:
    """``masked`` with matchers, range windows and label lists blanked, offsets unchanged:
    what is left names metrics, functions, keywords and numbers only."""
    blank = list(masked)
    for pattern in (r"\{[^}]*\}", r"\[[^\]]*\]"):
        for match in re.finditer(pattern, masked):
            blank[match.start() : match.end()] = " " * (match.end() - match.start())
    for open_, close in _paren_pairs(masked).items():
        word, start = _word_before(masked, open_)
        if word in _LABEL_LIST_WORDS:
            blank[start : close + 1] = " " * (close + 1 - start)
    return "".join(blank)


def selectors(expr: str) -> list[Selector]:
    """Every selector of a metric, bare names and recorded (``a:b:c``) names included."""
    masked = _mask_strings(expr)
    text = _metric_text(masked)
    found = []
    for match in _NAME.finditer(text):
        end = match.end()
        rest = text[end:].lstrip()
        if rest.startswith("(") or match.group() in _KEYWORDS:
            continue  # a function, an aggregation or a keyword
        after = masked[end:].lstrip()
        if after.startswith("{"):
            brace = masked.index("{", end)
            close = masked.index("}", brace)
            matchers = _parse_matchers(expr[brace + 1 : close])
            found.append(Selector(match.group(), matchers, match.start(), close + 1))
        else:
            found.append(Selector(match.group(), (), match.start(), end))
    return found


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects, whatever its prefix (``up`` included)."""
    return {selector.metric for selector in selectors(expr)}


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


@dataclass(frozen=True)
class Call:
    """A function or aggregation around a position; ``grouping`` is ``by``/``without`` or None."""

    name: str
    grouping: str | None = None
    labels: frozenset[str] = frozenset()

    def keeps(self, labels: frozenset[str]) -> frozenset[str]:
        """Which of ``labels`` the result still has (an aggregation drops the others)."""
        if self.name not in AGGREGATIONS:
            return labels
        if self.grouping == "by":
            return labels & self.labels
        if self.grouping == "without":
            return labels - self.labels
        return frozenset()


def _label_list(masked: str, open_: int, pairs: dict[int, int]) -> frozenset[str]:
    return frozenset(_IDENT.findall(masked[open_ + 1 : pairs[open_]]))


def _clause_after(masked: str, close: int) -> tuple[str | None, int]:
    """``by (...)``/``without (...)`` right after position ``close``: the word and its '('."""
    match = re.compile(r"\s*(by|without)\s*\(").match(masked, close + 1)
    if match is None:
        return None, -1
    return match.group(1), match.end() - 1


def enclosing(expr: str, pos: int) -> list[Call]:
    """Function and aggregation calls around ``pos``, innermost first, with their grouping.

    ``max by (team) (x)`` and ``max(x) by (team)`` both give ``max by {team}`` for x; the
    parentheses of a label list and plain grouping parentheses are skipped.
    """
    masked = _mask_strings(expr)
    pairs = _paren_pairs(masked)
    close_to_open = {c: o for o, c in pairs.items()}
    calls = []
    for open_, close in sorted(pairs.items(), reverse=True):
        if not open_ < pos < close:
            continue
        word, _ = _word_before(masked, open_)
        if word in _LABEL_LIST_WORDS:
            continue
        grouping: str | None = None
        labels: frozenset[str] = frozenset()
        if not word:
            # "max by (team) (" : the word before is a label list's ")"
            i = open_ - 1
            while i >= 0 and masked[i].isspace():
                i -= 1
            if i >= 0 and masked[i] == ")" and i in close_to_open:
                clause, clause_start = _word_before(masked, close_to_open[i])
                if clause in ("by", "without"):
                    word, _ = _word_before(masked, clause_start)
                    grouping, labels = clause, _label_list(masked, close_to_open[i], pairs)
        elif word in AGGREGATIONS:
            after, list_open = _clause_after(masked, close)
            if after is not None:
                grouping, labels = after, _label_list(masked, list_open, pairs)
        if word:
            calls.append(Call(word, grouping, labels))
    return calls


def enclosing_calls(expr: str, pos: int) -> list[str]:
    """The names of the calls around ``pos``, innermost first."""
    return [call.name for call in enclosing(expr, pos)]


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


# --- The metric contract ---------------------------------------------------------------------

TARGET_LABELS = frozenset({"job", "instance"})
# What may combine a family across exporter replicas, innermost around its selector. Mirrored
# values are deduplicated with max (sum would double them); counters and histograms are summed
# (max would under-count); per-replica facts are counted, or read per instance.
REPLICA_AGGREGATIONS: dict[Replicas, frozenset[str | None]] = {
    Replicas.MAX: frozenset({"max"}),
    Replicas.SUM: frozenset({"sum"}),
    Replicas.INSTANCE: frozenset({"count", "max", None}),
}
# Aggregations that add series up, so must not run over a family's fixed_for_sum labels.
SUMMING = frozenset({"sum", "avg"})


def family_of(name: str, recorded: dict[str, Family] | None = None) -> Family | None:
    """The contract's family of a series name (histograms: _bucket, _sum, _count), or the
    recorded family of a recording rule's name, or None."""
    return metrics.BY_SERIES_NAME.get(name) or (recorded or {}).get(name)


def allowed_labels(family: Family) -> frozenset[str]:
    """Labels a selector on ``family`` may match on (``le`` for buckets, a report's group)."""
    labels = set(family.labels) | family.optional_labels | TARGET_LABELS
    if family.type is Type.HISTOGRAM:
        labels.add("le")
    return frozenset(labels)


def recorded_families(rules: Iterable[tuple[str, str]]) -> dict[str, Family]:
    """The families that recording rules ``(record, expr)`` make, as the contract sees them.

    A recorded series keeps the labels and the replica aggregation of the series it is made of
    (which must agree), so queries on it are checked like queries on the exporter's own.
    """
    known: dict[str, Family] = {}
    for record, expr in rules:
        sources = set()
        for name in metric_names(expr):
            source = family_of(name, known)
            if source is None:
                raise AssertionError(f"{record}: {name} is neither recorded nor in the contract")
            sources.add((source.labels, source.replicas, source.area))
        if len(sources) != 1:
            raise AssertionError(f"{record}: its sources differ in labels or replicas {sources}")
        ((labels, replicas, area),) = sources
        known[record] = Family(record, Type.GAUGE, "", labels, expr, replicas, area)
    return known


def contract_problems(
    expr: str, selector: Selector, family: Family, *, per_instance: bool = False
) -> list[str]:
    """What a selector of ``family`` in ``expr`` does against the contract (empty: nothing).

    ``per_instance``: the expression is a recording rule, which keeps every replica's series
    (so that dashboards can filter by instance); it must not aggregate at all.
    """
    problems = []
    matched = {label for label, _, _ in selector.matchers}
    if matched - allowed_labels(family):
        problems.append(f"{family.name} has no label(s) {sorted(matched - allowed_labels(family))}")
    aggregations = [call for call in enclosing(expr, selector.start) if call.name in AGGREGATIONS]
    nearest = aggregations[0].name if aggregations else None
    allowed = frozenset({None}) if per_instance else REPLICA_AGGREGATIONS[family.replicas]
    if nearest not in allowed:
        problems.append(
            f"{family.name} is aggregated with {nearest!r} around it; across exporter replicas "
            f"it takes one of {sorted(map(str, allowed))}"
        )
    fixed = {label for label, op, _ in selector.matchers if op == "="}
    unfixed = frozenset(family.fixed_for_sum) - fixed
    for call in aggregations:
        kept = call.keeps(unfixed)
        if call.name in SUMMING and unfixed - kept:
            problems.append(
                f"{family.name} is summed over {sorted(unfixed - kept)}: fix them (= matcher) "
                "or keep them (by) before summing"
            )
        unfixed = kept
    return problems
