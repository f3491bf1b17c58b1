"""The benchmark table: one run's rows, or the median of several with the spread of each ratio,
and the section of docs/performance.md it replaces."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import Row, fmt

BEGIN = "<!-- bench:begin (python -m bench --update docs/performance.md) -->"
END = "<!-- bench:end -->"


@dataclass(frozen=True)
class Summary:
    """A row over all runs: median figures, every run's ratio, and whether the goal held in
    most runs (a goal met only in the best run is not met)."""

    row: Row  # the median run's row for this measure (by ratio, else by value)
    ratios: tuple[float, ...]
    met_in: int
    runs: int

    @property
    def met(self) -> bool | None:
        if self.row.met is None:
            return None
        return self.met_in * 2 > self.runs


def summarise(runs: list[list[Row]]) -> list[Summary]:
    """Rows matched by (benchmark, measure) across runs, in the first run's order."""
    by_key: dict[tuple[str, str], list[Row]] = {}
    for rows in runs:
        for row in rows:
            by_key.setdefault((row.benchmark, row.measure), []).append(row)
    out = []
    for same in by_key.values():
        ranked = sorted(same, key=lambda r: r.value if r.ratio is None else r.ratio)
        middle = ranked[(len(ranked) - 1) // 2]
        value = statistics.median(r.value for r in same)
        out.append(
            Summary(
                row=replace(middle, value=value) if middle.ratio is None else middle,
                ratios=tuple(r.ratio for r in same if r.ratio is not None),
                met_in=sum(1 for r in same if r.met),
                runs=len(same),
            )
        )
    return out


def _ratio(summary: Summary) -> str:
    if not summary.ratios:
        return "—"
    median = statistics.median(summary.ratios)
    if len(summary.ratios) == 1:
        return f"{median:.2f}x"
    return f"{median:.2f}x ({min(summary.ratios):.2f} to {max(summary.ratios):.2f})"


def table(summaries: list[Summary], info: dict[str, str], minutes: float, runs: int) -> str:
    how = "one run"
    if runs > 1:
        how = f"the median of {runs} runs (ratio: median, then lowest to highest)"
    lines = [
        f"Measured with `make bench` on {info['cores']} cores ({info['cpu']}), "
        f"{info['memory']} RAM, {info['os']}, {info['python']}; "
        f"{info['packages']}; {info['wrk']}. Load generators run on the same cores, and "
        "their own CPU is given. Each baseline was measured in the same run; figures are "
        f"{how}, {minutes:.1f} min in all. Ratio is exporter ÷ baseline.",
        "",
        "| Benchmark | Measure | Exporter | Baseline (same run) | Ratio | Goal | Met "
        "| Load generator | Notes |",
        "|---|---|---:|---|---:|---|:-:|---|---|",
    ]
    for summary in summaries:
        row = summary.row
        baseline = "—"
        if row.baseline_value is not None:
            baseline = f"{fmt(row.baseline_value, row.unit)}: {row.baseline}"
        met = "—"
        if summary.met is not None:
            met = "yes" if summary.met else "**no**"
            if summary.runs > 1:
                met += f" ({summary.met_in} of {summary.runs})"
        lines.append(
            f"| {row.benchmark} | {row.measure} | {fmt(row.value, row.unit)} | {baseline} "
            f"| {_ratio(summary)} | {row.goal or '—'} | {met} | {row.load_cpu or '—'} "
            f"| {row.note} |"
        )
    return "\n".join(lines) + "\n"


def update_section(path: Path, text: str) -> None:
    """Replace what lies between the markers in ``path`` with ``text``."""
    document = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if pattern.search(document) is None:
        raise ValueError(f"{path}: no {BEGIN} ... {END} section to replace")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}{END}", document, count=1))
