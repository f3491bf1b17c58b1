"""The metric contract in one place: names, help texts, label sets, buckets.

Values that mirror upstream state are built fresh on every scrape by the collectors; the
exporter's own operations (its API calls) are instrumented directly here.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter import __version__

NAMESPACE = "vercel_ai_gateway"

API_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def name(suffix: str) -> str:
    return f"{NAMESPACE}_{suffix}"


class ApiMetrics:
    """Counts and times every request the exporter makes to the gateway."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            name("api_requests"),
            "Requests the exporter made to the AI Gateway API, by HTTP status code "
            "(or timeout, network_error, invalid_response when no usable answer arrived).",
            ["team", "endpoint", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            name("api_request_duration_seconds"),
            "Duration of requests to the AI Gateway API.",
            ["endpoint"],
            buckets=API_DURATION_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            name("last_success_timestamp_seconds"),
            "Unix time of the last successful request to an AI Gateway API endpoint.",
            ["team", "endpoint"],
            registry=registry,
        )

    def observe(self, team: str, endpoint: str, code: str, seconds: float) -> None:
        self.requests.labels(team=team, endpoint=endpoint, code=code).inc()
        self.duration.labels(endpoint=endpoint).observe(seconds)

    def succeeded(self, team: str, endpoint: str, at: float) -> None:
        self.last_success.labels(team=team, endpoint=endpoint).set(at)


class BuildInfoCollector(Collector):
    """``vercel_ai_gateway_exporter_build_info{version,python_version} 1``."""

    def collect(self) -> list[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            name("exporter_build_info"),
            "Version of the exporter and of the Python running it; the value is always 1.",
            labels=["version", "python_version"],
        )
        family.add_metric([__version__, platform.python_version()], 1.0)
        return [family]
