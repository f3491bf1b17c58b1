"""The OpenAPI document states what the access layer answers, per instance."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from exporter.generations.intake import IntakeError
from exporter.web.intake_body import read_intake_body
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


GEN = "gen_01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.mark.parametrize(
    "body",
    [
        {"ids": [GEN]},
        {"id": GEN, "team": "prod", "attributes": {"feature": "chat"}},
        {"ids": [GEN], "team": None},
        {"ids": [GEN, GEN, GEN]},  # one over the instance's limit of 2
        {"id": GEN, "team": "staging"},  # not a team of this instance
        {"ids": [GEN], "id": GEN},
        {"ids": GEN},
        {"id": 7},
        {"idz": [GEN]},
        {"id": GEN, "attributes": {"feature": 1}},
        [GEN],
    ],
)
def test_the_documented_json_body_is_the_one_intake_takes(body: Any) -> None:
    """The schema is derived from the model that checks requests, narrowed to the instance's
    teams and ID limit: a body passes the document exactly when intake would take it."""
    document = openapi_document("/metrics", ["prod"], 2, token_required=False)
    schema = {
        **document["paths"]["/generations"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
        "components": document["components"],
    }
    documented = jsonschema.Draft202012Validator(schema).is_valid(body)
    try:
        parsed = read_intake_body(body)
    except IntakeError:
        taken = False
    else:
        taken = len(parsed.id_values()) <= 2 and parsed.team in (None, "prod")
    assert documented is taken
