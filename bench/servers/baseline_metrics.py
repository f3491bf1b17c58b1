"""The scrape baseline: prometheus_client's own HTTP server (``start_http_server``) exposing a
plain registry with the same series as the filled exporter.

    python -m bench.servers.baseline_metrics PORT PAIRS_PER_TEAM
"""

from __future__ import annotations

import signal
import sys
import threading

from prometheus_client import disable_created_metrics, start_http_server

from bench import dataset


def main(port: int, pairs: int) -> None:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # as the exporter does
    registry = dataset.native_registry(dataset.deltas(pairs))
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY", flush=True)
    stop.wait(3600)
    server.shutdown()
    thread.join(10)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
