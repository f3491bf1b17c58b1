"""The benchmark table over several runs: medians, spreads, and goals met in most runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.common import Row
from bench.report import BEGIN, END, summarise, table, update_section

INFO = {
    "cores": "2",
    "cpu": "cpu",
    "memory": "1 GiB",
    "os": "Linux",
    "python": "CPython",
    "packages": "none",
    "wrk": "wrk",
}


def _row(value: float, baseline: float | None, goal_met: bool | None) -> Row:
    return Row("Scrape", "scrapes", value, "scrapes/s", "base", baseline, "≥ 5x", goal_met)


def test_a_goal_met_only_in_the_best_run_is_not_met() -> None:
    runs = [[_row(10, 1, True)], [_row(4, 1, False)], [_row(3, 1, False)]]
    [summary] = summarise(runs)
    assert summary.met is False
    assert summary.row.value == 4  # the median run
    assert "4.00x (3.00 to 10.00)" in table([summary], INFO, 1.0, 3)
    assert "**no** (1 of 3)" in table([summary], INFO, 1.0, 3)


def test_rows_without_a_baseline_take_the_median_value() -> None:
    runs = [[_row(v, None, None)] for v in (5.0, 1.0, 3.0)]
    [summary] = summarise(runs)
    assert summary.row.value == 3.0
    assert summary.met is None


def test_the_readme_section_is_replaced_between_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{BEGIN}\nold table\n{END}\n\nAfter.\n")
    update_section(readme, "new table\n")
    assert readme.read_text() == f"# Title\n\n{BEGIN}\nnew table\n{END}\n\nAfter.\n"
    (tmp_path / "other.md").write_text("no markers")
    with pytest.raises(ValueError, match="no <!-- bench:begin"):
        update_section(tmp_path / "other.md", "x")
