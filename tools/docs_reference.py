"""The generated parts of docs/: the metrics reference, written from the metric table
(``exporter.metrics.FAMILIES``), the catalog's price fields left unread, written from their
lists (``exporter.gateway.catalog_models``), and the configuration table, written from the
typed configuration (``exporter.config.options()``), so no document can drift from the code.

Each generated part sits between two marker comments; the prose around them is written by
hand and kept as it is:

    <!-- generated: metrics (python -m tools.docs_reference --write) -->
    ...
    <!-- end generated -->

    python -m tools.docs_reference          # exit 1 and name the stale parts
    python -m tools.docs_reference --write  # rewrite the stale parts in place
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal, get_args, get_origin

from exporter.cli import default_text
from exporter.config import SECTIONS, Option, options
from exporter.gateway.catalog_models import UNREAD_ENDPOINT_PRICES, UNREAD_MODEL_PRICES
from exporter.metrics import FAMILIES, Area, Family, Replicas, Type

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
COMMAND = "python -m tools.docs_reference --write"
END = "<!-- end generated -->"

# Flags of the run command that are not options of a configuration section (cli.run_parser).
EXTRA_FLAGS = (
    (
        "--config.file",
        "AI_GATEWAY_EXPORTER_CONFIG_FILE",
        "",
        "none",
        "YAML configuration file: teams, and any option below.",
    ),
    (
        "--demo",
        "",
        "",
        "off",
        "Run against an in-process simulator with live traffic; no API key needed.",
    ),
)

_REPLICAS = {
    Replicas.MAX: "max",
    Replicas.SUM: "sum",
    Replicas.INSTANCE: "per instance",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items)


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _labels(family: Family) -> str:
    text = _code(family.labels) or "none"
    if family.optional_labels:
        text += f"; and at most one of {_code(sorted(family.optional_labels))}"
    return text


def _help(family: Family) -> str:
    text = family.full_help
    if family.type is Type.HISTOGRAM and family.buckets:
        first, last = family.buckets[0], family.buckets[-1]
        text += f" Buckets: {len(family.buckets)}, from {_number(first)} to {_number(last)}."
    return text


def metrics_reference(families: Iterable[Family] = FAMILIES) -> str:
    """One table per area, in the order of ``Area``; families in the order of the table."""
    by_area: dict[Area, list[Family]] = {}
    for family in families:
        by_area.setdefault(family.area, []).append(family)
    parts: list[str] = []
    for area in Area:
        if area not in by_area:
            continue
        rows = [
            f"### {area.value}",
            "",
            "| Metric | Type | Unit | Labels | Across replicas | Help |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for family in by_area[area]:
            rows.append(
                f"| `{family.name}` | {family.type.value} | {family.unit or '—'} "
                f"| {_cell(_labels(family))} | {_REPLICAS[family.replicas]} "
                f"| {_cell(_help(family))} |"
            )
        parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


def unread_prices() -> str:
    """The catalog's price fields the exporter does not read, one row per route and reason."""
    rows = ["| Route | Fields | Why they are not read |", "| --- | --- | --- |"]
    routes = (
        ("`GET /v1/models`, `pricing`", UNREAD_MODEL_PRICES),
        ("endpoints route", UNREAD_ENDPOINT_PRICES),
    )
    for route, fields in routes:
        by_reason: dict[str, list[str]] = {}
        for name, reason in fields.items():
            by_reason.setdefault(reason, []).append(name)
        for reason, names in by_reason.items():
            rows.append(f"| {route} | {_code(names)} | {_cell(reason[0].upper() + reason[1:])} |")
    return "\n".join(rows) + "\n"


def _choices(option: Option) -> tuple[str, ...]:
    """The values a ``Literal`` option allows (``--log.level``), else none."""
    annotation = SECTIONS[option.section].model_fields[option.name].annotation
    if get_origin(annotation) is Literal:
        return tuple(str(value) for value in get_args(annotation))
    return ()


def configuration_reference() -> str:
    """Every flag with its environment variable, YAML key, default and meaning."""
    rows = [
        "| Flag | Environment | YAML key | Default | Meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for flag, env, key, default, meaning in EXTRA_FLAGS:
        rows.append(
            f"| `{flag}` | {f'`{env}`' if env else '—'} | {f'`{key}`' if key else '—'} "
            f"| {default} | {_cell(meaning)} |"
        )
    for option in options():
        default = default_text(option)
        env = f"`{option.env}`" + (" (comma-separated)" if option.repeatable else "")
        meaning = option.description
        choices = _choices(option)
        if choices:
            meaning += f" One of {_code(choices)}."
        rows.append(
            f"| `{option.flag}` | {env} | `{option.key}` "
            f"| {default if default == 'none' else f'`{default}`'} | {_cell(meaning)} |"
        )
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Generated:
    """One generated part: which document, under which marker, rendered by what."""

    name: str
    path: Path
    render: Callable[[], str]

    @property
    def start(self) -> str:
        return f"<!-- generated: {self.name} ({COMMAND}) -->"

    def _split(self, text: str) -> tuple[str, str, str]:
        if text.count(self.start) != 1:
            raise ValueError(f"{self.path.name}: expected the marker {self.start!r} once")
        head, rest = text.split(self.start, 1)
        if END not in rest:
            raise ValueError(f"{self.path.name}: {self.start!r} has no {END!r} after it")
        body, tail = rest.split(END, 1)
        return head, body, tail

    def current(self) -> str:
        """What the document holds between the markers now."""
        return self._split(self.path.read_text())[1].strip("\n") + "\n"

    def is_stale(self) -> bool:
        return self.current() != self.render()

    def write(self) -> None:
        head, _, tail = self._split(self.path.read_text())
        self.path.write_text(f"{head}{self.start}\n\n{self.render()}\n{END}{tail}")


PARTS = (
    Generated("metrics", DOCS / "metrics.md", metrics_reference),
    Generated("unread prices", DOCS / "metrics.md", unread_prices),
    Generated("configuration", DOCS / "configuration.md", configuration_reference),
)


def main(argv: list[str]) -> int:
    if argv not in ([], ["--write"]):
        print(f"usage: python -m tools.docs_reference [--write]\n{__doc__}", file=sys.stderr)
        return 2
    stale = [part for part in PARTS if part.is_stale()]
    if argv == ["--write"]:
        for part in stale:
            part.write()
            print(f"rewrote the {part.name} part of {part.path.relative_to(REPO_ROOT)}")
        return 0
    for part in stale:
        print(
            f"{part.path.relative_to(REPO_ROOT)}: the {part.name} part is stale; run {COMMAND}",
            file=sys.stderr,
        )
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
