"""The exporter's own HTTP API as an OpenAPI 3.1 document, served at ``/openapi.json``.

It is generated for this instance (its teams, limits, and which credentials it asks for),
so a client generator or a fuzzer sees exactly what this exporter accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from exporter import __version__, routes
from exporter.web.intake_body import INTAKE_BODY

_ERROR = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {"error": {"type": "string"}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(
    telemetry_path: str,
    teams: Sequence[str],
    max_ids: int,
    token_required: bool,
    basic_auth: bool = False,
    drain_signed: bool = False,
) -> dict[str, Any]:
    # With several teams a request must name its team, in the body or in the query: OpenAPI
    # cannot express "one of the two", so neither is marked required and a 400 says so.
    team = {"type": "string", "enum": list(teams)}
    body, bodies = _intake_body(teams, max_ids)
    intake: dict[str, Any] = {
        "summary": "Hand over generation IDs for lookup",
        "description": "202 means the IDs are stored on disk. Each ID is counted once, however "
        "often it is sent. Values that are not generation IDs are listed in "
        "`rejected`; the rest are still accepted.",
        "parameters": [
            {
                "name": "team",
                "in": "query",
                "required": False,
                "schema": team,
                "description": "Team of a text/plain body (a JSON body may name it inline); "
                "needed when several teams are configured.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "202": {
                "description": "Stored",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/IntakeResult"}}
                },
            },
            "400": _error("The body does not parse, or names an unknown team"),
            "413": _error("Body or ID count over the limit"),
            "415": _error("Neither application/json nor text/plain"),
            "503": _error("Queue full or state disk unavailable; retry after Retry-After"),
        },
    }
    if token_required:
        intake["security"] = [{"bearer": []}]
        intake["responses"]["401"] = _error("Missing or wrong bearer token")
    traces = _traces(team, token_required, drain_signed)
    text = {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Vercel AI Gateway exporter", "version": __version__},
        "paths": {
            routes.LANDING: {
                "get": {
                    "summary": "Landing page",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            telemetry_path: {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Text format, or OpenMetrics when asked for in Accept",
                            "content": {
                                "text/plain": {"schema": {"type": "string"}},
                                "application/openmetrics-text": {"schema": {"type": "string"}},
                            },
                        }
                    },
                }
            },
            routes.HEALTHZ: {"get": {"summary": "Liveness", "responses": {"200": text}}},
            routes.READYZ: {
                "get": {
                    "summary": "Readiness",
                    "responses": {
                        "200": {
                            "description": "Ready",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Readiness"}
                                }
                            },
                        },
                        "503": {
                            "description": "Waiting for a first credits refresh",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Readiness"}
                                }
                            },
                        },
                    },
                }
            },
            routes.GENERATIONS: {"post": intake},
            routes.TRACES: {"post": traces, "get": _traces_description(team)},
            routes.OPENAPI: {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": _ERROR,
                **bodies,
                "IntakeResult": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["accepted", "duplicates", "rejected"],
                    "properties": {
                        "accepted": {"type": "integer", "minimum": 0},
                        "duplicates": {"type": "integer", "minimum": 0},
                        "rejected": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["id", "reason"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "reason": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Readiness": {
                    "type": "object",
                    "required": ["ready"],
                    "properties": {
                        "ready": {"type": "boolean"},
                        "waiting_for": {"type": "array", "items": {"type": "string"}},
                        "misconfigured": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    },
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }
    _add_access_answers(document, basic_auth)
    return document


def _intake_body(
    teams: Sequence[str], max_ids: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The JSON body's schema, from the model that checks it (exporter/web/intake_body.py),
    narrowed to this instance: its teams and its ID limit. Returns the schema and the
    components it refers to."""
    schema = INTAKE_BODY.json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, dict[str, Any]] = schema.pop("$defs")
    for component in components.values():
        properties = component["properties"]
        for choice in properties["team"]["anyOf"]:
            if choice["type"] == "string":
                choice["enum"] = list(teams)
        if "ids" in properties:
            properties["ids"]["maxItems"] = max_ids
    return schema, components


def _traces_description(team: dict[str, Any]) -> dict[str, Any]:
    """GET: what Vercel's endpoint check asks before a drain is created."""
    return {
        "summary": "What the path takes, with the drain's verification code in x-vercel-verify",
        "security": [],
        "parameters": [
            {
                "name": "team",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "The team whose verification code to answer with.",
            }
        ],
        "responses": {
            "200": {
                "description": "What POST takes",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }


def _traces(team: dict[str, Any], token_required: bool, drain_signed: bool) -> dict[str, Any]:
    """OTLP/HTTP: the body and the answers are OpenTelemetry's own messages, in the encoding of
    the request (protobuf or JSON); errors are a google.rpc.Status."""
    otlp = {
        "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object"}},
    }
    operation: dict[str, Any] = {
        "summary": "Take traces: AI Gateway's trace drain, and OTLP spans carrying generation "
        "IDs (ExportTraceServiceRequest)",
        "description": "OTLP/HTTP as the OpenTelemetry specification defines it, gzip or not. "
        "A delivery signed by a configured AI Gateway trace drain (x-vercel-signature) is "
        "counted from its spans with no lookup; any other span's generation IDs go through "
        "the same exactly-once intake as /generations. Spans whose team attribute names no "
        "team are reported in partial_success.",
        "parameters": [
            {
                "name": "team",
                "in": "query",
                "required": False,
                "schema": team,
                "description": "Team of spans without a team attribute (default: the first); "
                "a signed delivery is the team whose drain secret signed it.",
            },
        ],
        "requestBody": {"required": True, "content": otlp},
        "responses": {
            "200": {"description": "ExportTraceServiceResponse", "content": otlp},
            "400": {"description": "Not an ExportTraceServiceRequest (Status)", "content": otlp},
            "413": {"description": "Body or span count over the limit (Status)", "content": otlp},
            "415": {"description": "Neither protobuf nor JSON (Status)", "content": otlp},
            "503": {"description": "Queue full or state disk unavailable (Status)"},
        },
    }
    if drain_signed:  # without a drain secret the header is not read
        operation["parameters"].append(
            {
                "name": "x-vercel-signature",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9a-f]{40}$"},
                "description": "Hex HMAC-SHA1 of the body under the drain's signature secret.",
            }
        )
        operation["responses"]["403"] = {
            "description": "A drain signature no configured secret made",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if token_required:
        operation["security"] = [{"bearer": []}]
        operation["responses"]["401"] = {"description": "Missing or wrong bearer token"}
    return operation


def _add_access_answers(document: dict[str, Any], basic_auth: bool) -> None:
    """Answers that the access layer (exporter/web/auth.py and limits.py) can give on any path."""
    if basic_auth:
        document["security"] = [{"basic": []}]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            responses["431"] = _error("Request line and headers over --web.max-header-bytes")
            if path in routes.OPEN:
                operation["security"] = []  # probes need no credentials
            elif basic_auth:
                responses.setdefault("401", _error("Missing or wrong basic auth credentials"))


def openapi_route(document: dict[str, Any]) -> Route:
    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return Route(routes.OPENAPI, openapi)
