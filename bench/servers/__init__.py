"""Processes the benchmarks start: the exporter filled with series, and the bare baselines."""
