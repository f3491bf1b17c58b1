"""``python -m grafana.dashboards [--check]``: write the dashboard JSON, or fail if it is stale."""

from __future__ import annotations

import argparse
import sys

from grafana.dashboards.dashboard import OUTPUT, render


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.dashboards", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed JSON differs, write nothing"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run 'python -m grafana.dashboards'", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
