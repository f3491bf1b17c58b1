"""``python -m bench [NAME ...]``: run the benchmarks and print one markdown table.

Progress goes to stderr; the table (machine description first) goes to stdout and, with
``--output``, to a file. ``--scale 0.3`` shortens every timed run for a quick look (the
figures are then noisier); ``--strict`` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, fmt, log, machine
from bench.context import Context

BENCHMARKS = ("scrape", "intake", "otlp", "lookups", "restart", "memory")


def table(rows: list[Row], info: dict[str, str], seconds: float) -> str:
    lines = [
        f"Measured with `make bench` on {info['cores']} cores ({info['cpu']}), "
        f"{info['memory']} RAM, {info['os']}, {info['python']}; "
        f"{info['packages']}; {info['wrk']}. Load generators run on the same cores. "
        f"Each baseline was measured in the same run ({seconds / 60:.1f} min in all); "
        "Ratio is exporter ÷ baseline.",
        "",
        "| Benchmark | Measure | Exporter | Baseline (same run) | Ratio | Goal | Met | Notes |",
        "|---|---|---:|---|---:|---|:-:|---|",
    ]
    for row in rows:
        baseline = "—"
        if row.baseline_value is not None:
            baseline = f"{fmt(row.baseline_value, row.unit)}: {row.baseline}"
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}x"
        met = "—" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.benchmark} | {row.measure} | {fmt(row.value, row.unit)} | {baseline} "
            f"| {ratio} | {row.goal or '—'} | {met} | {row.note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply timed runs by this.")
    parser.add_argument("--output", type=Path, help="Also write the table to this file.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a goal is missed.")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHMARKS)})")
    for tool in ("wrk",):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    names = args.names or list(BENCHMARKS)
    workdir = Path(tempfile.mkdtemp(prefix="vercel-ai-gateway-bench-"))
    ctx = Context(workdir, args.scale)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name in names:
            log(f"{name}: starting")
            begun = time.monotonic()
            rows += importlib.import_module(f"bench.{name}").run(ctx)
            log(f"{name}: done in {time.monotonic() - begun:.0f} s")
    finally:
        ctx.close()
        if args.keep:
            log(f"scratch directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    text = table(rows, machine(), time.monotonic() - started)
    print(text)
    if args.output:
        args.output.write_text(text)
    missed = [row for row in rows if row.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
