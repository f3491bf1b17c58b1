"""The intake baselines: a Starlette app on the exporter's own uvicorn setup that reads the
body of ``POST /generations`` and answers 202. Given a state path, it first parses the IDs
and stores them durably (``durable.GroupCommit``), the floor of a durable intake; without
one it stores nothing, the floor of any intake.

    python -m bench.servers.bare_intake PORT [STATE_PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.servers.durable import GroupCommit
from bench.servers.serving import serve
from exporter.web.server import run


def route(store: GroupCommit | None) -> Route:
    async def accept(request: Request) -> Response:
        body = await request.body()
        if store is not None:
            data = json.loads(body)
            await store.add(data["ids"] if "ids" in data else [data["id"]])
        return JSONResponse({"accepted": 0, "duplicates": 0, "rejected": []}, status_code=202)

    return Route("/generations", accept, methods=["POST"])


if __name__ == "__main__":
    store = GroupCommit(Path(sys.argv[2])) if len(sys.argv) > 2 else None
    run(serve([route(store)], int(sys.argv[1]), store))
