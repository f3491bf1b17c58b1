"""Lifecycle: run what the composition root (assembly.py) built, reload it on SIGHUP, drain
it on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import socket

from exporter import routes
from exporter.assembly import DRAIN_PRICES, Components
from exporter.config import ConfigError
from exporter.web.config_file import WebAccess, load_web_config
from exporter.web.limits import RequestLimits
from exporter.web.server import AsgiServer

log = logging.getLogger(__name__)


class Exporter:
    """Runs what ``build`` made on one loop until ``stop`` is set, reloads it on SIGHUP."""

    def __init__(self, components: Components) -> None:
        self.components = components

    def reload(self) -> None:
        """SIGHUP: read the key and token files and the web config file again, as the Go
        exporters do. What cannot be read keeps its last good value, and says so."""
        changed = []
        for key in self.components.keys:
            try:
                if key.reload():
                    changed.append(key.describe())
            except ConfigError as exc:
                log.error(f"reload: {exc}; keeping the last good key")
        path = self.components.config.web.config_file
        if path is not None:
            try:
                fresh = load_web_config(path)
            except ConfigError as exc:
                log.error(f"reload: {exc}; keeping the running web config")
            else:
                self._reload_web(fresh, str(path), changed)
        log.info("reloaded on SIGHUP", extra={"changed": ",".join(changed) or "nothing"})

    def _reload_web(self, fresh: WebAccess, path: str, changed: list[str]) -> None:
        password_check = self.components.password_check
        restart = fresh.reload_into(self.components.web)
        if (password_check is None) != (not fresh.users):
            restart.append("turning basic auth on or off")
        elif password_check is not None:
            password_check.replace_users(fresh.users)
        if restart:
            log.warning(f"reload: {path}: {', '.join(restart)} takes effect at the next restart")
        changed.append(path)

    async def run(self, sock: socket.socket, stop: asyncio.Event) -> None:
        parts = self.components
        web = parts.config.web
        limits = RequestLimits(
            web.read_header_timeout, web.read_timeout, web.max_header_bytes, web.write_timeout
        )
        server = AsgiServer(parts.app, sock, tls=parts.web.tls, limits=limits)
        tasks = [asyncio.create_task(work) for work in parts.generations.tasks()]
        tasks.append(asyncio.create_task(parts.task_counter.run(), name="count-tasks"))
        tasks += [
            asyncio.create_task(work, name=name)
            for name, source in parts.sources.items()
            for work in source.tasks()
        ]
        serving = asyncio.create_task(server.serve(), name="http")
        log.info(
            "exporter listening",
            extra={"address": web.listen_address, "teams": ",".join(parts.clients)},
        )
        if parts.drain.signatures is not None:
            log.info(
                f"taking AI Gateway trace drain deliveries on {routes.TRACES}; Vercel bills a "
                f"drain per trace event and per GB ({DRAIN_PRICES})",
                extra={"teams": ",".join(parts.drain.teams)},
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
        await parts.generations.close()
        for source in parts.sources.values():
            await source.aclose()
        for client in parts.clients.values():
            await client.aclose()
        log.info("stopped")
