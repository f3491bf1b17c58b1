"""What the gateway and control routes both need: JSON answers and the caller's bearer token."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        # At most 8 decimals and well under 15 significant digits: the float's shortest
        # repr is the same decimal, so clients parsing with Decimal get it back exactly.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; money kept as Decimal in the simulator goes out as an exact JSON number."""
    return Response(
        json.dumps(body, default=_json_default),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def html_not_found() -> Response:
    """A web site's 404 page: what a path outside ``/v1`` gets, and so what an exporter whose
    URL leads to no AI Gateway meets."""
    page = b"<!DOCTYPE html><html><body><h1>404: This page could not be found.</h1></body></html>"
    return Response(page, status_code=404, media_type="text/html")


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or "" (which no team is keyed with)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
