"""Every route of the exporter's HTTP API, named once.

The metrics path is configurable (``--web.telemetry-path``); it may not take any of the fixed
paths below, which is checked where the flag is parsed.
"""

from __future__ import annotations

LANDING = "/"
HEALTHZ = "/healthz"
READYZ = "/readyz"
GENERATIONS = "/generations"
TRACES = "/v1/traces"  # OTLP/HTTP's own path, so a Collector or SDK needs no path setting
OPENAPI = "/openapi.json"
DEFAULT_METRICS = "/metrics"

FIXED = frozenset({LANDING, HEALTHZ, READYZ, GENERATIONS, TRACES, OPENAPI})
# Open without credentials, so kubelet liveness probes keep working with basic auth on.
OPEN = frozenset({HEALTHZ})
# Application intake: the ingest bearer token applies, and the concurrency cap.
INTAKE = frozenset({GENERATIONS, TRACES})
