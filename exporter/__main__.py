"""``python -m exporter``: the same entry point as the console script."""

from exporter.cli import main

raise SystemExit(main())
