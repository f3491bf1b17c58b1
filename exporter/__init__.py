"""Prometheus exporter for Vercel AI Gateway usage and billing."""

__version__ = "0.1.0"
