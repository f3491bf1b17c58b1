"""The JSON body of ``POST /generations``, as one pydantic model.

It both checks requests and, through its JSON schema, writes that part of ``/openapi.json``:
what the exporter takes and what it documents cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

from exporter.generations.intake import IntakeError

SHAPE = '{"ids": [...]} or {"id": "..."}'
# What each field must be, in the words of the error that says it is not.
_EXPECTED = {
    "ids": "a list of strings",
    "id": "a string",
    "team": "a string",
    "attributes": "an object of strings",
}


def _text(value: str) -> str:
    """JSON may escape a lone UTF-16 surrogate ("\\ud800"): such a string is no text at all, so
    the request is refused whole before anything is stored."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("holds a lone UTF-16 surrogate, which is not text") from None
    return value


Text = Annotated[str, AfterValidator(_text)]


class _Body(BaseModel):
    """What both shapes may carry beside their IDs."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    team: Text | None = Field(
        default=None,
        description="The team the IDs belong to; needed when several teams are configured "
        "(or give it in the query).",
    )
    attributes: dict[Text, Text] = Field(
        default_factory=dict,
        description="Attribution for the dashboards (e.g. feature, environment): the keys "
        "configured under attribution.labels are kept, the rest ignored.",
    )


class IdsBody(_Body):
    """Several IDs in one request."""

    ids: list[Text] = Field(description="Generation IDs (gen_ and a ULID).")

    def id_values(self) -> list[str]:
        """The raw values, checked one by one later: a bad one does not spoil the rest."""
        return self.ids


class IdBody(_Body):
    """One ID."""

    id: Text = Field(description="A generation ID (gen_ and a ULID).")

    def id_values(self) -> list[str]:
        return [self.id]


def _variant(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    if ("ids" in data) == ("id" in data):
        return None
    return "ids" if "ids" in data else "id"


IntakeBody = Annotated[
    Annotated[IdsBody, Tag("ids")] | Annotated[IdBody, Tag("id")],
    Discriminator(
        _variant,
        custom_error_type="intake_shape",
        custom_error_message=f"expected {SHAPE}",
    ),
]
INTAKE_BODY: TypeAdapter[IdsBody | IdBody] = TypeAdapter(IntakeBody)


def read_intake_body(data: Any) -> IdsBody | IdBody:
    """The decoded JSON checked against the model; the first problem becomes a 400 that says
    in plain words what is wrong."""
    try:
        return INTAKE_BODY.validate_python(data)
    except ValidationError as exc:
        raise IntakeError(400, _message(data, exc.errors()[0])) from None


def _message(data: Any, error: ErrorDetails) -> str:
    if not isinstance(data, dict):
        return f"expected a JSON object: {SHAPE}"
    if error["type"] == "intake_shape":
        unknown = sorted(set(data) - set(_EXPECTED))
        if unknown:
            return _unknown(unknown[0])
        return 'give exactly one of "ids" (a list) or "id" (a string)'
    where = error["loc"][1:]  # the first element is the variant's tag
    field = str(where[0])
    if error["type"] == "extra_forbidden":
        return _unknown(field)
    if error["type"] == "value_error":
        place = f"ids[{where[1]}]" if field == "ids" and len(where) > 1 else f'"{field}"'
        return f"{place} {error['msg'].removeprefix('Value error, ')}"
    return f'"{field}" must be {_EXPECTED[field]}'


def _unknown(field: str) -> str:
    return f"unknown field {field!r} (expected {', '.join(_EXPECTED)})"
