"""The values table of the chart's README, generated from the `# --` comments of values.yaml
(the helm-docs convention), so the README cannot drift from the values.

    python -m tools.values_table          # print the table
    python -m tools.values_table --write  # replace the table in the chart's README.md
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parents[1] / "helm" / "vercel-ai-gateway-exporter"
VALUES = CHART_DIR / "values.yaml"
README = CHART_DIR / "README.md"
START = "<!-- values-table:start (python -m tools.values_table --write) -->"
END = "<!-- values-table:end -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][A-Za-z0-9_]*):")
_COMMENT = re.compile(r"^ *#(?: (?P<text>.*))?$")


@dataclass(frozen=True)
class Documented:
    key: str  # dotted path
    type: str
    default: str
    description: str


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def documented() -> list[Documented]:
    """Every key with a `# --` comment directly above it, in file order."""
    values = yaml.safe_load(VALUES.read_text())
    stack: list[tuple[int, str]] = []
    lines: list[str] | None = None  # the description being collected
    default: str | None = None
    out: list[Documented] = []
    for line in VALUES.read_text().splitlines():
        comment = _COMMENT.match(line)
        if comment:
            text = comment["text"] or ""
            if text.startswith("-- "):
                lines, default = [text[3:]], None
            elif text.startswith("@default -- ") and lines is not None:
                default = text.removeprefix("@default -- ")
            elif lines is not None:
                lines.append(text)
            continue
        key = _KEY.match(line)
        if key is None:  # blank lines and list items end a description
            lines = None
            continue
        indent = len(key["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key["key"]))
        if lines is not None:
            path = ".".join(k for _, k in stack)
            value = _lookup(values, path)
            shown = default if default is not None else f"`{json.dumps(value)}`"
            out.append(Documented(path, _type_of(value), shown, " ".join(lines)))
        lines = None
    return out


def table() -> str:
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for doc in documented():
        description = doc.description.replace("|", "\\|")
        default = doc.default.replace("|", "\\|")
        rows.append(f"| `{doc.key}` | {doc.type} | {default} | {description} |")
    return "\n".join(rows) + "\n"


def readme_table() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START) : text.index(END)].strip("\n") + "\n"


def write() -> None:
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table()}{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.stdout.write(table())
