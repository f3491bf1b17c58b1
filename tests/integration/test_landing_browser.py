"""In a real browser, the landing page of a running demo answers "are my applications'
generations arriving?", and its numbers are the ones ``/metrics`` publishes.

Headless Chromium from Debian (scripts/install-system-deps.sh installs it) loads the page and
dumps the DOM it built; the test reads the tables from that, as a person reads the screen.
When Chromium is missing the test fails and says so, it never skips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import routes
from exporter.generations.activity import INTAKE_PATHS
from exporter.metrics import GENERATION_IDS_RECEIVED, GENERATION_LOOKUPS
from tests.support.landing import arrival_rows
from tests.support.processes import ManagedProcess, exporter_command, free_port, wait_until

TEAM = "demo"  # exporter/demo.py's one team
LAST_ARRIVAL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+s ago\)")


def chromium_dom(url: str, profile: Path) -> str:
    """The DOM headless Chromium builds from ``url``, with nothing reached but ``url``."""
    binary = shutil.which("chromium")
    assert binary, "chromium is missing: run scripts/install-system-deps.sh (or make test)"
    result = subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # tests run as root in CI, where the sandbox refuses to start
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr}"
    assert "</html>" in result.stdout, f"no page from chromium:\n{result.stderr[-2000:]}"
    return result.stdout


APP_PATHS = ("http", "otlp")  # the demo app pushes most IDs and sends a third in its spans


def counters(metrics_url: str) -> tuple[dict[str, int], int]:
    """(IDs accepted per path of the demo app, lookups found) of the demo team, as scraped."""
    accepted = dict.fromkeys(APP_PATHS, 0)
    found = 0
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=5).text):
        for s in family.samples:
            if s.labels.get("vercel_team") != TEAM:
                continue
            if s.name == GENERATION_IDS_RECEIVED.name and s.labels["intake"] in APP_PATHS:
                accepted[s.labels["intake"]] += (
                    int(s.value) if s.labels["result"] == "accepted" else 0
                )
            if s.name == GENERATION_LOOKUPS.name and s.labels["outcome"] == "found":
                found += int(s.value)
    return accepted, found


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        exporter_command("--demo", f"--web.listen-address=127.0.0.1:{port}"),
        tmp_path / "exporter.log",
    )
    try:
        process.wait_http(base + routes.READYZ, timeout=30)
        yield base
    finally:
        process.stop()


def test_the_page_shows_the_demo_generations_arriving_and_counted(
    demo: str, tmp_path: Path
) -> None:
    metrics = demo + routes.DEFAULT_METRICS

    def moving() -> bool:
        accepted, found = counters(metrics)
        return found > 0 and all(accepted.values())

    wait_until(moving, timeout=60, what="IDs over every app path and a generation counted")
    before = counters(metrics)
    page = chromium_dom(demo + routes.LANDING, tmp_path / "chromium")
    after = counters(metrics)

    rows = arrival_rows(page)
    assert 'class="nothing-yet"' not in page, "the demo's IDs have arrived"
    assert rows[("arrivals", TEAM, "http")][0] == f"POST {routes.GENERATIONS}"
    assert rows[("arrivals", TEAM, "otlp")][0].startswith(f"POST {routes.TRACES}")
    accepted = 0
    for intake in APP_PATHS:
        _, last_hour, last_arrival, taken, *refused = rows[("arrivals", TEAM, intake)]
        assert LAST_ARRIVAL.fullmatch(last_arrival), (intake, last_arrival)
        assert int(refused[-1]) == 0, "the demo's IDs are fresh: none stale or future"
        assert int(last_hour) == int(taken) + sum(map(int, refused)) > 0, (
            f"a fresh exporter received everything over {intake} within the hour"
        )
        accepted += int(taken)
    assert sum(before[0].values()) <= accepted <= sum(after[0].values()), (
        "the page shows what /metrics publishes"
    )
    counted = int(rows[("outcomes", TEAM, "counted")][1])
    assert before[1] <= counted <= after[1]
    pending = int(rows[("outcomes", TEAM, "pending")][1])
    abandoned = sum(int(cells[1]) for key, cells in rows.items() if "abandoned:" in key[2])
    # The demo's drain counts half the requests from their spans, a pushed ID among them.
    drained = int(rows[("outcomes", TEAM, "drained")][1])
    settled = pending + counted + abandoned
    assert settled <= accepted <= settled + drained, "every accepted ID is in one state"
    drain = rows[("arrivals", TEAM, "drain")]
    assert drain[0].startswith("AI Gateway trace drain") and LAST_ARRIVAL.fullmatch(drain[2])
    for intake in INTAKE_PATHS:
        if intake not in (*APP_PATHS, "drain"):
            assert rows[("arrivals", TEAM, intake)][1:3] == ["0", "never"], intake
