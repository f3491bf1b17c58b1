"""Lifecycle: build the parts from the configuration, run them, drain them on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.routing import Route

from exporter import routes
from exporter.clock import Clock, SystemClock
from exporter.config import Config, ConfigError
from exporter.exposition import Exposition
from exporter.gateway.client import GatewayClient
from exporter.gateway.keys import FileKey, KeySource
from exporter.gateway.retry import RetryPolicy
from exporter.generations.activity import Arrivals, collect_arrivals
from exporter.generations.pipeline import GenerationPipeline
from exporter.generations.store import SeriesMirror
from exporter.generations.usage import ModelUsage
from exporter.metrics import ASYNCIO_TASKS, ApiMetrics, BuildInfoCollector
from exporter.sources.catalog import PriceBook
from exporter.sources.credits import CreditsSource
from exporter.sources.health import SourceHealthCollector
from exporter.sources.registry import SOURCES, SourceContext, source_of
from exporter.sources.thresholds import ThresholdsCollector
from exporter.teams import Team
from exporter.web.app import Access, create_app, protect
from exporter.web.auth import BearerToken
from exporter.web.config_file import WebAccess, load_web_config
from exporter.web.intake import IntakeEndpoint
from exporter.web.landing import TeamStatus
from exporter.web.limits import RequestLimits
from exporter.web.openapi import openapi_document, openapi_route
from exporter.web.otlp import DrainAccess, TracesEndpoint, VerifyHeader
from exporter.web.refusals import Refusals, reason_of
from exporter.web.server import AsgiServer

log = logging.getLogger(__name__)

TASK_SAMPLE_EVERY = 2.0
# As a third-party summary of Vercel's pricing page put them (shared/reference/trace-drains.md).
DRAIN_PRICES = "about 0.05 USD per 1,000 trace events and 0.50 USD per GB"


class TaskCounter(Collector):
    """The asyncio task count, sampled every few seconds (counting on a scrape would report
    the scrape's own tasks)."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count = len(asyncio.all_tasks())
            await asyncio.sleep(TASK_SAMPLE_EVERY)

    def collect(self) -> list[Metric]:
        family = ASYNCIO_TASKS.gauge()
        family.add_metric([], float(self.count))
        return [family]


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
        # The catalog ranks models by the pipeline's counters, and the pipeline counts cache
        # savings at the catalog's prices: both get the series mirror, made before either.
        mirror = SeriesMirror()
        self.prices = PriceBook()
        self.sources = SOURCES.build(
            SourceContext(
                config,
                teams,
                self.clients,
                self.api_metrics,
                self.clock,
                self.prices,
                ModelUsage(mirror).requests,
            )
        )
        self.credits = source_of(self.sources, CreditsSource)
        self.task_counter = TaskCounter()
        self.refusals = Refusals(self.clock)
        self.generations = GenerationPipeline(
            config,
            self.clients,
            self.clock,
            mirror,
            {team: state.health for team, state in self.credits.teams.items()},
            pricing=self.prices,
        )
        ingest = config.ingest
        self.token = FileKey(ingest.token_file, "ingest.token_file") if ingest.token_file else None
        bearer = BearerToken(self.token)
        generations = IntakeEndpoint(
            self.generations.intake,
            bearer,
            ingest.max_body_bytes,
            ingest.max_ids,
            lambda status, message: self.refusals.refuse(
                routes.GENERATIONS, reason_of(status), status, message
            ),
        )
        self.drain = DrainAccess(config, list(self.clients))
        traces = TracesEndpoint(
            self.generations.otlp,
            self.generations.intake,
            bearer,
            self.drain,
            self.refusals,
            config.otlp.max_body_bytes,
            config.otlp.trust_span_values,
        )
        for collector in (
            BuildInfoCollector(),
            ThresholdsCollector([team.config for team in teams]),
            SourceHealthCollector(self.sources),
            self.task_counter,
            self.refusals,
            *self.generations.collectors(),
            *(c for source in self.sources.values() for c in source.collectors()),
        ):
            self.registry.register(collector)
        self.exposition = Exposition(self.registry, [self.generations.collector])
        self.app = create_app(
            self.exposition,
            config.web.telemetry_path,
            self.statuses,
            [
                Route(routes.GENERATIONS, generations.handle, methods=["POST"]),
                Route(routes.TRACES, traces.handle, methods=["POST", "GET", "HEAD"]),
                openapi_route(self._openapi()),
            ],
            notes=self.notes,
            arrivals=self.arrivals,
            refusals=self.refusals.recent,
        )
        access = Access(
            self.web,
            ingest_token=config.ingest.token_file is not None,
            max_concurrent_intake=config.ingest.max_concurrent_requests,
            max_header_bytes=config.web.max_header_bytes,
            drain_signed=self.drain.signatures is not None,
        )
        self._password_check = protect(self.app, access, self.clock, self.refusals)
        self.app.add_middleware(VerifyHeader, drain=self.drain)
        self._keys: list[KeySource] = [team.key for team in teams]
        self._keys += [key for source in self.sources.values() for key in source.secrets()]
        if self.token is not None:
            self._keys.append(self.token)
        self._keys += self.drain.keys()

    def reload(self) -> None:
        """SIGHUP: read the key and token files and the web config file again, as the Go
        exporters do. What cannot be read keeps its last good value, and says so."""
        changed = []
        for key in self._keys:
            try:
                if key.reload():
                    changed.append(key.describe())
            except ConfigError as exc:
                log.error(f"reload: {exc}; keeping the last good key")
        path = self.config.web.config_file
        if path is not None:
            try:
                fresh = load_web_config(path)
            except ConfigError as exc:
                log.error(f"reload: {exc}; keeping the running web config")
            else:
                self._reload_web(fresh, str(path), changed)
        log.info("reloaded on SIGHUP", extra={"changed": ",".join(changed) or "nothing"})

    def _reload_web(self, fresh: WebAccess, path: str, changed: list[str]) -> None:
        restart = fresh.reload_into(self.web)
        if (self._password_check is None) != (not fresh.users):
            restart.append("turning basic auth on or off")
        elif self._password_check is not None:
            self._password_check.replace_users(fresh.users)
        if restart:
            log.warning(f"reload: {path}: {', '.join(restart)} takes effect at the next restart")
        changed.append(path)

    def _openapi(self) -> dict[str, Any]:
        config = self.config
        return openapi_document(
            config.web.telemetry_path,
            list(self.clients),
            config.ingest.max_ids,
            token_required=config.ingest.token_file is not None,
            basic_auth=bool(self.web.users),
            drain_signed=self.drain.signatures is not None,
        )

    def notes(self) -> list[str]:
        """What the landing page lists under costs: each source's, and the drain's."""
        notes = [note for source in self.sources.values() for note in source.notes()]
        if self.drain.signatures is not None:
            counts = self.generations.otlp.drain_counts
            notes.append(
                f"AI Gateway trace drain ({', '.join(self.drain.teams)}): Vercel bills each "
                f"drain per trace event delivered and per GB ({DRAIN_PRICES}; check "
                f"vercel.com/pricing). Since this exporter started it took "
                f"{sum(counts.events.values())} trace events in "
                f"{sum(counts.deliveries.values())} deliveries, "
                f"{sum(counts.bytes.values())} bytes."
            )
        return notes

    def arrivals(self) -> Arrivals:
        """Are the applications' generations arriving? For the landing page."""
        pipeline = self.generations
        return collect_arrivals(pipeline.mirror, pipeline.intake.activity, pipeline.teams)

    def statuses(self) -> list[TeamStatus]:
        """Credits decide readiness: they are what the alerts need first. A URL that leads to
        no API is named as the team's misconfiguration."""
        now = self.clock.time()
        rows = []
        for team, state in self.credits.teams.items():
            health, snapshot = state.health, state.snapshot
            balance = f"balance {snapshot.credits.balance} USD" if snapshot else ""
            rows.append(
                TeamStatus(
                    team=team,
                    ready=health.attempted.is_set(),
                    up=health.up,
                    last_success_age=(
                        None if health.last_success is None else now - health.last_success
                    ),
                    detail=health.last_error or balance,
                    misconfigured=health.last_error if health.misdirected else None,
                )
            )
        return rows

    async def run(self, sock: socket.socket, stop: asyncio.Event) -> None:
        web = self.config.web
        limits = RequestLimits(
            web.read_header_timeout, web.read_timeout, web.max_header_bytes, web.write_timeout
        )
        server = AsgiServer(self.app, sock, tls=self.web.tls, limits=limits)
        tasks = [asyncio.create_task(work) for work in self.generations.tasks()]
        tasks.append(asyncio.create_task(self.task_counter.run(), name="count-tasks"))
        tasks += [
            asyncio.create_task(work, name=name)
            for name, source in self.sources.items()
            for work in source.tasks()
        ]
        serving = asyncio.create_task(server.serve(), name="http")
        log.info(
            "exporter listening",
            extra={"address": self.config.web.listen_address, "teams": ",".join(self.clients)},
        )
        if self.drain.signatures is not None:
            log.info(
                f"taking AI Gateway trace drain deliveries on {routes.TRACES}; Vercel bills a "
                f"drain per trace event and per GB ({DRAIN_PRICES})",
                extra={"teams": ",".join(self.drain.teams)},
            )
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([serving, stopping], return_when=asyncio.FIRST_COMPLETED)
        log.info("shutting down")
        # The server finishes in-flight requests first (intake needs the writer), then the
        # background work stops; lookups in flight stay pending and resume at the next start.
        server.stop()
        await serving
        stopping.cancel()
        log.info("stopping background work (lookups in flight stay pending)")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.generations.close()
        for source in self.sources.values():
            await source.aclose()
        for client in self.clients.values():
            await client.aclose()
        log.info("stopped")
