"""Where a running exporter spends its time: py-spy samples, summed per function.

    python -m bench.profile PID [--seconds 6] [--gil] [--top 30]

Run it while a benchmark loads the process (``python -m bench NAME --keep`` logs each
process's output under the scratch directory; ``ps`` gives the PID). Needs py-spy
(``pip install py-spy``), which reads the process from outside: nothing in the exporter
changes. ``--gil`` keeps only samples holding the GIL (Python CPU, without waits in C).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Frames where a thread waits for work (event loop, thread pools): not time spent.
IDLE = (
    "select (selectors.py",
    "_worker (concurrent/futures/thread.py:81)",
    "Condition.wait (threading.py",
)


def summarize(raw: str, top: int) -> str:
    """Self and inclusive shares per function from py-spy's ``raw`` (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first frame names the thread
        if not frames or frames[-1].startswith(IDLE):
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in {f.rsplit(":", 1)[0] for f in frames}:  # per function, not per line
            inclusive[frame] += samples
    if not total:
        return "no busy samples\n"
    out = [f"{total} busy samples", "", "self:"]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("pid", type=int)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--gil", action="store_true", help="Only samples holding the GIL.")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("bench.profile: py-spy is not installed (pip install py-spy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.txt"
        cmd = [spy, "record", "--pid", str(args.pid), "--duration", str(args.seconds)]
        cmd += ["--rate", "200", "--format", "raw", "--threads", "-o", str(out)]
        if args.gil:
            cmd.append("--gil")
        subprocess.run(cmd, capture_output=True, timeout=args.seconds + 60, check=True)
        print(summarize(out.read_text(), args.top), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
