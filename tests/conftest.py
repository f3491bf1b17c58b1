"""Test layout and the fixtures that start real processes on 127.0.0.1 and always stop them.

tests/unit runs in process (the web side through httpx's ASGI transport and a fake clock) and
is the quick loop: ``pytest -m "not slow"``. Every other directory starts real processes
(the exporter, the simulator, Prometheus, promtool, Alertmanager, tsc, Helm) and is marked
``slow`` here, by directory, so no test has to remember to say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import ExporterProcess, SimulatorProcess

QUICK_DIRECTORIES = frozenset({"unit"})
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        directory = item.path.relative_to(TESTS).parts[0]
        if directory not in QUICK_DIRECTORIES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def simulator_factory(tmp_path: Path) -> Iterator[Callable[..., SimulatorProcess]]:
    started: list[SimulatorProcess] = []

    def start(*args: str) -> SimulatorProcess:
        sim = SimulatorProcess(tmp_path / "sim", *args)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def simulator(simulator_factory: Callable[..., SimulatorProcess]) -> SimulatorProcess:
    return simulator_factory()


@pytest.fixture
def exporter_factory(tmp_path: Path) -> Iterator[Callable[..., ExporterProcess]]:
    started: list[ExporterProcess] = []

    def start(gateway_url: str, *args: str, **kwargs: Any) -> ExporterProcess:
        exp = ExporterProcess(tmp_path / "exporter", gateway_url, *args, **kwargs)
        started.append(exp)
        return exp

    yield start
    for exp in started:
        exp.stop()
