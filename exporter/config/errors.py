"""What a refused configuration says: ``ConfigError``, and pydantic's errors rewritten for a
person, one clause each, naming the key (never the value, which may be a secret)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(Exception):
    """A configuration the exporter refuses to start with; the text is shown to the user as is."""


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _describe_loc(loc: tuple[int | str, ...]) -> str:
    """``teams[0].api_key_file``; a key that is not a plain word is quoted, so a key holding a
    newline or a dot cannot make the message ambiguous or span lines."""
    out = ""
    for part in loc:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else part
    return out


Unsupported = Mapping[tuple[str, ...], Mapping[str, str]]


def describe_errors(
    exc: ValidationError, root: type[BaseModel], unsupported: Unsupported | None = None
) -> str:
    """Pydantic's errors rewritten for a person, one clause each: what key, what is wrong.

    ``unsupported`` names keys of a foreign format (the exporter-toolkit web config) that are
    refused by name, with what to use instead, rather than called unknown.
    """
    return "; ".join(_error_text(error, root, unsupported or {}) for error in exc.errors())


def _error_text(error: Mapping[str, Any], root: type[BaseModel], unsupported: Unsupported) -> str:
    # Pydantic adds steps that are not keys: validator names ("function-after[...]"), "[key]".
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    path = _describe_loc(loc)
    if error["type"] == "extra_forbidden":
        section, name = tuple(str(p) for p in loc[:-1]), str(loc[-1])
        if name in unsupported.get(section, {}):
            instead = unsupported[section][name]
            return f"{path}: not supported by this exporter" + (f" ({instead})" if instead else "")
        model = _model_at(root, loc[:-1])
        close = difflib.get_close_matches(name, list(model.model_fields) if model else [], n=1)
        return f"{path}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    return f"{path}: {message}" if path else message


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model
