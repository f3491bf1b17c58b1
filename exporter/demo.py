"""Demo mode: the simulator in the same process, with live traffic whose generation IDs are
handed to the exporter's intake as an application would, and whose traces its trace drain
sends to the exporter's own ``/v1/traces``, signed, so every metric moves within seconds and
no API key is needed. The drain samples half the requests, as a drain's sampling rule would:
those are counted from their spans, the others looked up. A third of the IDs arrive in the
application's own AI SDK spans (exporter/simulator/app_spans.py), with now and then a call
recorded without its outputs, so every intake path and its dashboard panels move."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import tempfile
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from exporter.config import ENV_PREFIX, TeamConfig
from exporter.gateway.keys import StaticKey
from exporter.generations.intake import Intake, IntakeError
from exporter.simulator.app import Simulator, create_app
from exporter.simulator.app_spans import app_request
from exporter.simulator.drain import DrainSender
from exporter.simulator.reporting import demo_team_config
from exporter.simulator.world import SimGeneration
from exporter.teams import Team
from exporter.web.server import AsgiServer, bind, bound_port

TEAM = "demo"
KEY = "demo-key-for-the-bundled-simulator"
FEED_EVERY = 1.0
FEATURES = ("chat", "search", "summarize", "agent")
DRAIN_SAMPLE_RATE = 0.5
DRAIN_EVERY = 2.0
SPANS_SHARE = 3  # one ID in this many arrives in the application's own spans
SILENT_EVERY = 5  # feeds between calls recorded without their outputs (no ID)


class Demo:
    def __init__(self) -> None:
        self.simulator = Simulator(
            seed=1,
            rate=2.0,
            top_up_below=Decimal(25),
            embedding_share=0.1,
            failure_share=0.05,
            web_search_share=0.2,  # drain spans carry no web search: lookups must see some
        )
        self._drain_secret = secrets.token_hex(16)
        self._drain = False  # the exporter checks the demo drain's secret (overrides)
        self._sock = bind("127.0.0.1:0")
        self.url = f"http://127.0.0.1:{bound_port(self._sock)}"
        self._tasks: list[asyncio.Task[None]] = []
        self._new_ids: list[str] = []
        # The demo's own files: its state (unless the user chose a path) and a budgets token.
        self._workdir = tempfile.TemporaryDirectory(prefix="vercel-ai-gateway-demo-")

    def overrides(self, given: dict[str, Any]) -> dict[str, Any]:
        """Config the demo needs, without overriding what the user set explicitly."""
        out: dict[str, Any] = {"gateway.url": self.url}
        defaults = {
            "credits.interval": "5s",
            "lookup.initial_delay": "4s",
            # The catalog at its shortest, so prices and provider health show within a minute.
            "catalog.prices_interval": "1m",
            "catalog.health_interval": "30s",
        }
        for key, value in defaults.items():
            env = ENV_PREFIX + key.replace(".", "_").upper()
            if key not in given and env not in os.environ:
                out[key] = value
        if (
            "attribution.labels" not in given
            and f"{ENV_PREFIX}ATTRIBUTION_LABELS" not in os.environ
        ):
            # The demo's traffic says which feature each call served, as an app would.
            out["attribution.labels"] = [
                "feature=field:feature",
                "feature=span:ai.telemetry.functionId",
            ]
        if "state.path" not in given and f"{ENV_PREFIX}STATE_PATH" not in os.environ:
            out["state.path"] = os.path.join(self._workdir.name, "state.db")
        if "drain.secret_file" not in given and f"{ENV_PREFIX}DRAIN_SECRET_FILE" not in os.environ:
            secret = Path(self._workdir.name, "drain.secret")
            secret.write_text(self._drain_secret + "\n")
            out["drain.secret_file"] = str(secret)
            self._drain = True
        return out

    def teams(self) -> list[Team]:
        """One team, with reports and budgets on, so every dashboard row has data."""
        world = self.simulator.world_for(KEY)
        extra = demo_team_config(world, self.url, Path(self._workdir.name))
        config = TeamConfig.model_validate({"name": TEAM, "api_key_env": "UNUSED", **extra})
        return [Team(TEAM, StaticKey(KEY, "demo key"), config)]

    def start(self, intake: Intake, traces_url: str | None) -> None:
        """Start the traffic and the feeds; ``traces_url``: the exporter's own ``/v1/traces``
        for the drain (None: no drain, e.g. behind TLS the demo's client would not trust)."""
        server = AsgiServer(create_app(self.simulator), self._sock)
        self.simulator.listeners.append(self._on_generation)
        self._tasks = [
            asyncio.create_task(server.serve()),
            asyncio.create_task(self.simulator.run_traffic()),
            asyncio.create_task(self._feed(intake, traces_url)),
        ]
        if traces_url is not None and self._drain:
            drain = DrainSender(
                traces_url,
                self._drain_secret,
                interval=DRAIN_EVERY,
                sample_rate=DRAIN_SAMPLE_RATE,
            )
            self.simulator.start_drain(drain)
            self._tasks += self.simulator.drain_tasks

    def _on_generation(self, team: str, gen: SimGeneration) -> None:
        self._new_ids.append(gen.id)

    async def _feed(self, intake: Intake, traces_url: str | None) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            for feed in itertools.count():
                await asyncio.sleep(FEED_EVERY)
                ids, self._new_ids = self._new_ids, []
                calls = [(gen_id, _feature(gen_id)) for gen_id in ids]
                traced = [call for call in calls if zlib.crc32(call[0].encode()) % SPANS_SHARE == 0]
                silent = int(feed % SILENT_EVERY == 0)
                if traces_url is None or not (traced or silent):
                    await _push(intake, calls)
                elif await _send_spans(client, traces_url, traced, silent):
                    await _push(intake, [call for call in calls if call not in traced])
                else:  # refused (an ingest token is set, say): pushed like the rest
                    await _push(intake, calls)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._workdir.cleanup()


def _feature(gen_id: str) -> str:
    """A stable feature per ID, as the app that made the call would say."""
    return FEATURES[zlib.crc32(gen_id.encode()) % len(FEATURES)]


async def _send_spans(
    client: httpx.AsyncClient, url: str, calls: list[tuple[str, str]], silent: int
) -> bool:
    """The app's OTLP exporter: True when the exporter took the spans."""
    body = app_request(calls, silent, time.time_ns()).SerializeToString()
    try:
        answer = await client.post(
            url, content=body, headers={"content-type": "application/x-protobuf"}
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


async def _push(intake: Intake, calls: list[tuple[str, str]]) -> None:
    """POST /generations as the app would make it: one request per feature."""
    by_feature: dict[str, list[str]] = {}
    for gen_id, feature in calls:
        by_feature.setdefault(feature, []).append(gen_id)
    for feature, ids in by_feature.items():
        with contextlib.suppress(IntakeError):
            attributes = intake.attributes({"feature": feature})
            await intake.accept(TEAM, ids, "http", attributes=attributes)
