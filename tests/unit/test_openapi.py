"""The OpenAPI document states what the access layer answers, per instance."""

from __future__ import annotations

from typing import Any

from exporter.web.openapi import openapi_document


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_without_basic_auth_nothing_but_a_token_protected_intake_asks_for_credentials() -> None:
    document = openapi_document("/metrics", ["prod"], 10_000, token_required=True)
    assert "security" not in document
    for where, operation in operations(document).items():
        assert "431" in operation["responses"], where
        if where in ("POST /generations", "POST /v1/traces"):
            assert operation["security"] == [{"bearer": []}]
            assert "401" in operation["responses"]
        else:
            assert "401" not in operation["responses"], where


def test_basic_auth_guards_every_path_but_healthz() -> None:
    document = openapi_document("/metrics", ["prod"], 10_000, token_required=False, basic_auth=True)
    assert document["security"] == [{"basic": []}]
    for where, operation in operations(document).items():
        if where == "GET /healthz":
            assert operation["security"] == []
            assert "401" not in operation["responses"]
        else:
            assert "401" in operation["responses"], where
