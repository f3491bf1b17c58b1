"""Every goal the table checks, in one place: raising or relaxing one is one reviewed line.

A ratio is exporter ÷ baseline of the same run; ``--strict`` fails when a goal is missed in
most runs (bench/report.py).
"""

from __future__ import annotations

# Scrape: scrapes per second and in-process renders per second, times prometheus_client's.
SCRAPE = 5.0
RENDER = 10.0

# Intake: IDs per second in batches of 1,000; single-ID requests per second as a share of an
# app that commits the IDs to SQLite with the exporter's durability before answering.
INTAKE_BATCH = 50_000.0
INTAKE_SINGLE = 0.7

# OTLP intake: spans per second, and a share of an app that decodes with the same bindings,
# reads the one ID attribute and commits the same way.
OTLP_RATE = 20_000.0
OTLP_RATIO = 0.5

# /metrics p99 in milliseconds while clients post large OTLP/JSON bodies back to back.
SATURATION_P99_MS = 1000.0

# Trace drain: generations per second, and its CPU per generation as a share of the lookup
# path's for the same generations.
DRAIN_RATE = 10_000.0
DRAIN_CPU = 0.1

# Lookups: the exporter's CPU per completed lookup, at most this many times a bare loop's.
LOOKUP_CPU = 1.3

# Restart on a million resolved IDs: time to ready, at most this many times an empty start.
RESTART = 1.25

# Memory: peak RSS in MB under load; state per million resolved IDs against a bare table.
MEMORY_MB = 150.0
STORAGE = 1.5

# Growth: the largest scale state (30 million resolved IDs) against the smallest (1 million).
SCALE_RESTART_S = 3.0  # seconds to ready
SCALE_INTAKE = 0.8  # single-ID and batch intake rates, at least this share
SCALE_PRUNE_P99 = 2.0  # scrape p99 during the start's prune pass, at most this many times after
SCALE_RSS = 1.2  # peak RSS, at most this many times
