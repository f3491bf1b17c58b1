"""Lifecycle: build the parts from the configuration, run them, drain them on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from exporter.access import protect
from exporter.budgets import Budgets
from exporter.clock import Clock, SystemClock
from exporter.config import Config
from exporter.credits import CreditsCollector, CreditsPoller, TeamCredits
from exporter.deadlines import RequestLimits
from exporter.gateway.client import GatewayClient
from exporter.gateway.retry import RetryPolicy
from exporter.generations.pipeline import GenerationPipeline
from exporter.http import TeamStatus, create_app
from exporter.metrics import ApiMetrics, BuildInfoCollector, name
from exporter.openapi import openapi_document, openapi_route
from exporter.reports import Reports
from exporter.serving import AsgiServer
from exporter.teams import Team
from exporter.thresholds import ThresholdsCollector
from exporter.webconfig import load_web_config

log = logging.getLogger(__name__)

TASK_SAMPLE_EVERY = 2.0


class Exporter:
    """Everything the exporter runs, wired once; ``run`` until ``stop`` is set."""

    def __init__(self, config: Config, teams: Sequence[Team], clock: Clock | None = None) -> None:
        self.config = config
        self.web = load_web_config(config.web.config_file)  # first: a bad file fails the start
        self.clock = clock or SystemClock()
        # _created series double the exposition for no use on dashboards or alerts.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.api_metrics = ApiMetrics(self.registry)
        self.clients = {
            team.name: GatewayClient(
                team.name,
                config.gateway.url,
                team.key,
                self.api_metrics,
                timeout=config.gateway.timeout,
                retry=RetryPolicy(sleep=self.clock.sleep),
                clock=self.clock,
            )
            for team in teams
        }
        self.credits = {team.name: TeamCredits(team.name) for team in teams}
        self.registry.register(BuildInfoCollector())
        self.registry.register(
            CreditsCollector(
                self.credits, self.clock, config.credits.interval, config.credits.max_staleness
            )
        )
        self.registry.register(ThresholdsCollector([team.config for team in teams]))
        self.tasks_alive = Gauge(
            name("exporter_asyncio_tasks"),
            "Asyncio tasks alive in the exporter, sampled every few seconds; a steady rise "
            "means a leak.",
            registry=self.registry,
        )
        self.generations = GenerationPipeline(config, self.clients, self.clock)
        self.registry.register(self.generations.collector)
        # Custom Reporting and budgets: optional, per team (exporter/reports.py, budgets.py).
        self.reports = Reports(teams, self.clients, self.clock)
        self.registry.register(self.reports.collector)
        self.budgets = Budgets(teams, self.api_metrics, self.clock, config.gateway.timeout)
        self.registry.register(self.budgets.collector)
        self.app = create_app(
            self.registry,
            config.web.telemetry_path,
            self.statuses,
            [*self.generations.routes(), openapi_route(self._openapi())],
            notes=self.reports.notes,
        )
        protect(
            self.app,
            self.web,
            ingest_token=config.ingest.token_file is not None,
            max_concurrent_intake=config.ingest.max_concurrent_requests,
            max_header_bytes=config.web.max_header_bytes,
            clock=self.clock,
        )

    def _openapi(self) -> dict[str, Any]:
        config = self.config
        return openapi_document(
            config.web.telemetry_path,
            list(self.clients),
            config.ingest.max_ids,
            token_required=config.ingest.token_file is not None,
            basic_auth=bool(self.web.users),
        )

    def statuses(self) -> list[TeamStatus]:
        now = self.clock.monotonic()
        rows = []
        for team, state in self.credits.items():
            snap = state.snapshot
            detail = state.last_error or (f"balance {snap.credits.balance} USD" if snap else "")
            rows.append(
                TeamStatus(
                    team=team,
                    ready=state.attempted.is_set(),
                    up=state.up,
                    last_success_age=None if snap is None else now - snap.fetched_mono,
                    detail=detail,
                )
            )
        return rows

    async def _count_tasks(self) -> None:
        while True:
            self.tasks_alive.set(len(asyncio.all_tasks()))
            await asyncio.sleep(TASK_SAMPLE_EVERY)

    async def run(self, sock: socket.socket, stop: asyncio.Event) -> None:
        web = self.config.web
        limits = RequestLimits(web.read_header_timeout, web.read_timeout, web.max_header_bytes)
        server = AsgiServer(self.app, sock, tls=self.web.tls, limits=limits)
        tasks = [asyncio.create_task(work) for work in self.generations.tasks()]
        tasks.append(asyncio.create_task(self._count_tasks(), name="count-tasks"))
        tasks += [
            asyncio.create_task(
                CreditsPoller(
                    self.clients[team], state, self.config.credits.interval, self.clock
                ).run(),
                name=f"credits:{team}",
            )
            for team, state in self.credits.items()
        ]
        tasks += [
            asyncio.create_task(work) for work in (*self.reports.tasks(), *self.budgets.tasks())
        ]
        serving = asyncio.create_task(server.serve(), name="http")
        log.info(
            "exporter listening",
            extra={"address": self.config.web.listen_address, "teams": ",".join(self.credits)},
        )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
        log.info("shutting down")
        # The server finishes in-flight requests first (intake needs the writer), then the
        # background work stops; lookups in flight stay pending and resume at the next start.
        server.stop()
        await serving
        stopping.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.generations.close()
        await self.budgets.aclose()
        for client in self.clients.values():
            await client.aclose()
