"""Benchmarks for ``make bench``: each figure is measured next to a baseline in the same run.

Run ``python -m bench`` (or one benchmark: ``python -m bench scrape``). Every load goes to
127.0.0.1, every loop is bounded in count and time, and every process started is stopped.
"""
