"""The composition root: every part of the exporter made from the configuration, once.

``build`` makes the parts in dependency order, so none reaches for one made after it, and
hands them to ``Exporter`` (service.py), which only runs, reloads and drains them. Tests use
the parts directly (the app through httpx's ASGI transport, the pipeline, the sources)
without starting anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from starlette.routing import Route
from starlette.types import ASGIApp

from exporter import routes
from exporter.clock import Clock, SystemClock
from exporter.config import Config
from exporter.exposition import Exposition
from exporter.gateway.client import GatewayClient
from exporter.gateway.keys import FileKey, KeySource
from exporter.gateway.retry import RetryPolicy
from exporter.generations.activity import Arrivals, collect_arrivals
from exporter.generations.mirror import SeriesMirror
from exporter.generations.pipeline import GenerationPipeline
from exporter.generations.usage import ModelUsage
from exporter.metrics import ApiMetrics, BuildInfoCollector, TaskCounter
from exporter.sources.base import Source
from exporter.sources.catalog import PriceBook
from exporter.sources.credits import CreditsSource
from exporter.sources.health import SourceHealthCollector
from exporter.sources.registry import SOURCES, SourceContext, source_of
from exporter.sources.thresholds import ThresholdsCollector
from exporter.teams import Team
from exporter.web.app import Access, Direct, create_app, protect
from exporter.web.auth import BearerToken, PasswordCheck
from exporter.web.config_file import WebAccess, load_web_config
from exporter.web.intake import IntakeEndpoint
from exporter.web.landing import TeamStatus
from exporter.web.openapi import openapi_document, openapi_route
from exporter.web.otlp import DrainAccess, TracesEndpoint, VerifyHeader
from exporter.web.refusals import Refusals, reason_of

# As a third-party summary of Vercel's pricing page put them (shared/reference/trace-drains.md).
DRAIN_PRICES = "about 0.05 USD per 1,000 trace events and 0.50 USD per GB"


@dataclass(frozen=True)
class Components:
    """What ``build`` made: what ``Exporter`` runs, reloads and drains."""

    config: Config
    clock: Clock
    web: WebAccess  # the web config file's TLS and users; a reload updates it in place
    registry: CollectorRegistry
    exposition: Exposition
    app: ASGIApp  # the HTTP API behind its edge
    clients: Mapping[str, GatewayClient]  # each team's AI Gateway client, by team name
    sources: Mapping[str, Source]  # the enabled sources by registered name, in start order
    credits: CreditsSource  # always on: readiness and the landing page's rows
    generations: GenerationPipeline
    drain: DrainAccess
    task_counter: TaskCounter
    keys: Sequence[KeySource]  # what a reload reads again
    password_check: PasswordCheck | None  # whose users a reload replaces


def build(config: Config, teams: Sequence[Team], clock: Clock | None = None) -> Components:
    """Every part, checked as it is made: a bad web config file, key, token or secret file,
    or a locked state file stops the start with a ConfigError naming it."""
    web = load_web_config(config.web.config_file)  # first: a bad file fails the start
    clock = clock or SystemClock()
    # _created series double the exposition for no use on dashboards or alerts.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    api_metrics = ApiMetrics(registry)
    clients = {
        team.name: GatewayClient(
            team.name,
            config.gateway.url,
            team.key,
            api_metrics,
            timeout=config.gateway.timeout,
            retry=RetryPolicy(sleep=clock.sleep),
            clock=clock,
        )
        for team in teams
    }
    # The catalog ranks and prices the models the pipeline counts, and the pipeline prices
    # cache savings at the catalog's answers: the series mirror and the price book they share
    # are made before either.
    mirror = SeriesMirror()
    prices = PriceBook()
    sources = SOURCES.build(
        SourceContext(
            config, teams, clients, api_metrics, clock, prices, ModelUsage(mirror).requests
        )
    )
    credits = source_of(sources, CreditsSource)
    generations = GenerationPipeline(
        config,
        clients,
        clock,
        mirror,
        {team: state.health for team, state in credits.teams.items()},
        pricing=prices,
    )
    refusals = Refusals(clock)
    ingest = config.ingest
    token = FileKey(ingest.token_file, "ingest.token_file") if ingest.token_file else None
    bearer = BearerToken(token)
    intake = IntakeEndpoint(
        generations.intake,
        bearer,
        ingest.max_body_bytes,
        lambda status, message: refusals.refuse(
            routes.GENERATIONS, reason_of(status), status, message
        ),
    )
    drain = DrainAccess(config, list(clients))
    traces = TracesEndpoint(
        generations.otlp,
        generations.intake,
        bearer,
        drain,
        refusals,
        config.otlp.max_body_bytes,
        config.otlp.max_spans,
        config.otlp.trust_span_values,
    )
    task_counter = TaskCounter()
    for collector in (
        BuildInfoCollector(),
        ThresholdsCollector([team.config for team in teams]),
        SourceHealthCollector(sources),
        task_counter,
        refusals,
        *generations.collectors(),
        *(c for source in sources.values() for c in source.collectors()),
    ):
        registry.register(collector)
    exposition = Exposition(registry, [generations.collector])
    landing = Landing(credits, sources, generations, drain, clock)
    app = create_app(
        exposition,
        config.web.telemetry_path,
        landing.statuses,
        [
            Route(routes.GENERATIONS, intake, methods=["POST"]),
            Route(routes.TRACES, traces.handle, methods=["POST", "GET", "HEAD"]),
            openapi_route(_openapi(config, list(clients), web, drain)),
        ],
        notes=landing.notes,
        arrivals=landing.arrivals,
        refusals=refusals.recent,
    )
    access = Access(
        web,
        ingest_token=ingest.token_file is not None,
        max_concurrent_intake=ingest.max_concurrent_requests,
        max_header_bytes=config.web.max_header_bytes,
        drain_signed=drain.signatures is not None,
    )
    direct = Direct(app, {(routes.GENERATIONS, "POST"): intake})
    edge, password_check = protect(direct, access, clock, refusals)
    keys: list[KeySource] = [team.key for team in teams]
    keys += [key for source in sources.values() for key in source.secrets()]
    if token is not None:
        keys.append(token)
    keys += drain.keys()
    return Components(
        config=config,
        clock=clock,
        web=web,
        registry=registry,
        exposition=exposition,
        app=VerifyHeader(edge, drain=drain),
        clients=clients,
        sources=sources,
        credits=credits,
        generations=generations,
        drain=drain,
        task_counter=task_counter,
        keys=keys,
        password_check=password_check,
    )


def _openapi(
    config: Config, teams: Sequence[str], web: WebAccess, drain: DrainAccess
) -> dict[str, Any]:
    return openapi_document(
        config.web.telemetry_path,
        list(teams),
        config.ingest.max_ids,
        token_required=config.ingest.token_file is not None,
        basic_auth=bool(web.users),
        drain_signed=drain.signatures is not None,
    )


class Landing:
    """What the landing page and ``/readyz`` show, read from the parts at each request."""

    def __init__(
        self,
        credits: CreditsSource,
        sources: Mapping[str, Source],
        generations: GenerationPipeline,
        drain: DrainAccess,
        clock: Clock,
    ) -> None:
        self._credits = credits
        self._sources = sources
        self._generations = generations
        self._drain = drain
        self._clock = clock

    def notes(self) -> list[str]:
        """What the landing page lists under costs: each source's, and the drain's."""
        notes = [note for source in self._sources.values() for note in source.notes()]
        if self._drain.signatures is not None:
            counts = self._generations.otlp.drain_counts
            notes.append(
                f"AI Gateway trace drain ({', '.join(self._drain.teams)}): Vercel bills each "
                f"drain per trace event delivered and per GB ({DRAIN_PRICES}; check "
                f"vercel.com/pricing). Since this exporter started it took "
                f"{sum(counts.events.values())} trace events in "
                f"{sum(counts.deliveries.values())} deliveries, "
                f"{sum(counts.bytes.values())} bytes."
            )
        return notes

    def arrivals(self) -> Arrivals:
        """Are the applications' generations arriving? For the landing page."""
        pipeline = self._generations
        return collect_arrivals(
            pipeline.mirror,
            pipeline.intake.activity,
            pipeline.teams,
            pipeline.otlp.model_calls.notes(),
        )

    def statuses(self) -> list[TeamStatus]:
        """Credits decide readiness: they are what the alerts need first. A URL that leads to
        no API is named as the team's misconfiguration."""
        now = self._clock.time()
        rows = []
        for team, state in self._credits.teams.items():
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
