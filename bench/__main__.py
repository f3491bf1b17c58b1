"""``python -m bench [NAME ...]``: run the benchmarks and print one markdown table.

Progress goes to stderr; the table (machine description first) goes to stdout and, with
``--output``, to a file; ``--update docs/performance.md`` replaces the table there.
``--runs 3`` runs the whole set three times and gives the median of each figure and the
spread of each ratio. ``--scale 0.3`` shortens every timed run for a quick look (the figures
are then noisier); ``--strict`` exits 1 when a goal is missed (in most runs).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Row, log, machine
from bench.context import Context
from bench.report import summarise, table, update_section

BENCHMARKS = (
    "scrape",
    "intake",
    "otlp",
    "saturation",
    "drain",
    "lookups",
    "restart",
    "memory",
    "scale",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply timed runs by this.")
    parser.add_argument("--output", type=Path, help="Also write the table to this file.")
    parser.add_argument(
        "--update", type=Path, help="Replace the table between the bench markers in this file."
    )
    parser.add_argument("--runs", type=int, default=1, help="Run the set this many times.")
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
    runs: list[list[Row]] = []
    started = time.monotonic()
    try:
        for number in range(1, args.runs + 1):
            rows: list[Row] = []
            for name in names:
                log(f"{name}: starting (run {number} of {args.runs})")
                begun = time.monotonic()
                rows += importlib.import_module(f"bench.{name}").run(ctx)
                log(f"{name}: done in {time.monotonic() - begun:.0f} s")
            runs.append(rows)
    finally:
        ctx.close()
        if args.keep:
            log(f"scratch directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summaries = summarise(runs)
    text = table(summaries, machine(), (time.monotonic() - started) / 60, args.runs)
    print(text)
    if args.output:
        args.output.write_text(text)
    if args.update:
        update_section(args.update, text)
    missed = [summary for summary in summaries if summary.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
