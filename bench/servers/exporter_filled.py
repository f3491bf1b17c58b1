"""The real exporter (``exporter.service.Exporter`` under its own uvicorn server), with several
teams and the benchmark's generation series committed through its own state writer, so
``/metrics`` renders them with the exporter's collectors, exemplars included.

    python -m bench.servers.exporter_filled PORT GATEWAY_URL STATE_PATH PAIRS_PER_TEAM
"""

from __future__ import annotations

import asyncio
import sys

from bench import dataset
from exporter.assembly import build
from exporter.config import TeamConfig, load_config
from exporter.gateway.keys import StaticKey
from exporter.logs import setup_logging
from exporter.service import Exporter
from exporter.teams import Team
from exporter.web.server import bind, stop_on_signals


async def main(port: int, gateway: str, state: str, pairs: int) -> None:
    config = load_config(
        None,
        {},
        {
            "web.listen_address": f"127.0.0.1:{port}",
            "gateway.url": gateway,
            "state.path": state,
            "log.level": "warn",
        },
    )
    setup_logging(config.log.level, config.log.format)
    teams = [
        Team(name, StaticKey(f"bench-key-{name}"), TeamConfig(name=name, api_key_env="UNUSED"))
        for name in dataset.TEAMS
    ]
    stop = asyncio.Event()
    stop_on_signals(stop)
    components = build(config, teams)
    running = asyncio.create_task(Exporter(components).run(bind(config.web.listen_address), stop))
    await components.generations.writer.submit(dataset.Observe(dataset.deltas(pairs)))
    print("READY", flush=True)
    await running


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
