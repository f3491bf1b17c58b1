"""The README, docs/ and the mixin's pages (grafana/README.md, RUNBOOK.md) stay true to the
code: the generated references are current, every metric name written anywhere is one the
exporter publishes, no renamed name survives, every configuration key is documented, every
relative link leads somewhere, and grafana/README.md maps everything under grafana/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args, get_origin

import pytest
from pydantic import BaseModel

from exporter.cli import run_parser
from exporter.config import TeamConfig, options
from exporter.metrics import BY_NAME, BY_SERIES_NAME, FAMILIES, Type
from tools.docs_reference import COMMAND, EXTRA_FLAGS, PARTS, REPO_ROOT, Generated

README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
MIXIN = REPO_ROOT / "grafana"
MIXIN_README = MIXIN / "README.md"
# Not the CHANGELOG: its migration note may name the old names.
PAGES = [README, *DOCS, MIXIN_README, MIXIN / "RUNBOOK.md"]
CONFIGURATION = REPO_ROOT / "docs" / "configuration.md"

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)
# A metric name not inside a recording rule's name (level:metric:operations).
_METRIC = re.compile(r"(?<![\w:])vercel_ai_gateway_[a-z0-9_]*")
_MAKE = re.compile(r"(?:`|^)make ([a-z][a-z-]*)", re.MULTILINE)
_COUNTER_FUNCTION = re.compile(r"\b(?:i?rate|increase)\(\s*(vercel_ai_gateway_\w+)")
_TARGET = re.compile(r"^([a-z][a-z-]*):", re.MULTILINE)


def _label(name: str) -> re.Pattern[str]:
    """``name`` used as a label in a selector or a ``by (…)`` clause."""
    op = r"(?:=|!=|=~|!~)"
    return re.compile(
        rf"[{{(]\s*{name}\s*(?:[,}})]|{op})|,\s*{name}\s*(?:[}})]|{op})|\b{name}\s*{op}\s*\""
    )


# Spellings that the renames before 0.1.0 retired (CHANGELOG.md lists them).
RETIRED = {
    "label team": _label("team"),
    "label endpoint": _label("endpoint"),
    "label type": _label("type"),
    "token type cached_read": re.compile(r"\bcached_read\b"),
    "token type cached_input": re.compile(r"\bcached_input\b"),
    "token type cache_creation_input": re.compile(r"\bcache_creation_input\b"),
    "intake label source": re.compile(r"\bsource\s*=\s*\"(?:http|follow)\""),
    "generations_total": re.compile(r"\bgenerations_(?:abandoned_)?total\b"),
    # Bare: source_last_success_… and report_last_success_… are current names.
    "last_success_timestamp_seconds": re.compile(r"(?<![\w:])last_success_timestamp_seconds"),
    "honorLabels": re.compile(r"honorLabels:\s*true"),
}


def _prose(path: Path) -> str:
    """The page without its fenced code blocks (for links and headings)."""
    return _FENCE.sub("", path.read_text())


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for heading in _HEADING.findall(_prose(path)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


@pytest.mark.parametrize("part", PARTS, ids=lambda part: part.name)
def test_generated_parts_are_current(part: Generated) -> None:
    assert part.current() == part.render(), (
        f"the {part.name} part of {part.path.name} is stale: run {COMMAND}"
    )


def test_every_family_is_in_the_metrics_reference() -> None:
    text = (REPO_ROOT / "docs" / "metrics.md").read_text()
    for family in FAMILIES:
        assert f"| `{family.name}` |" in text, family.name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_metric_name_is_in_the_table(page: Path) -> None:
    text = page.read_text()
    unknown = []
    for match in _METRIC.finditer(text):
        name = match.group()
        if name.endswith("_") or text[match.end() : match.end() + 1] == "*":
            if not any(family.name.startswith(name) for family in FAMILIES):
                unknown.append(f"{name}*")
        elif name not in BY_NAME and name not in BY_SERIES_NAME:
            unknown.append(name)
    assert not unknown, f"{page.name} names metrics the exporter does not publish: {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_retired_name_survives(page: Path) -> None:
    text = page.read_text()
    found = {what: m.group() for what, rx in RETIRED.items() if (m := rx.search(text))}
    assert not found, f"{page.name} still uses retired names: {found}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_rate_and_increase_only_on_counters(page: Path) -> None:
    """rate() of a gauge (credits_used_usd) reads a downward correction as a reset."""
    for match in re.finditer(
        r"\b(?:i?rate|increase)\(\s*(vercel_ai_gateway_\w+)", page.read_text()
    ):
        family = BY_SERIES_NAME.get(match.group(1))
        assert family is not None, match.group(1)
        assert family.type is not Type.GAUGE, f"{page.name}: {match.group()} (a gauge)"


def test_every_flag_is_in_the_configuration_table() -> None:
    parser_flags = {
        flag
        for action in run_parser()._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag not in ("--help", "--version")
    }
    table_flags = {flag for flag, *_ in EXTRA_FLAGS} | {option.flag for option in options()}
    assert parser_flags == table_flags, "add the flag to EXTRA_FLAGS in tools/docs_reference.py"
    text = CONFIGURATION.read_text()
    for flag in table_flags:
        assert f"| `{flag}` |" in text, flag


def _keys(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}"
        yield path
        annotation = field.annotation
        if get_origin(annotation) is list:
            annotation, path = get_args(annotation)[0], path + "[]"
        for candidate in (annotation, *get_args(annotation)):  # X, or X | None
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                yield from _keys(candidate, path)


def test_every_team_key_is_documented() -> None:
    text = CONFIGURATION.read_text()
    missing = [key for key in _keys(TeamConfig, "teams[]") if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md does not describe {missing}"


@pytest.mark.parametrize(
    "page",
    [*PAGES, REPO_ROOT / "CHANGELOG.md"],
    ids=lambda p: str(p.relative_to(REPO_ROOT)),
)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in _LINK.findall(_prose(page)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path)):
            broken.append(target)
    assert not broken, f"{page.name} has broken links: {broken}"


def test_readme_links_every_document() -> None:
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in _LINK.findall(_prose(README))
        if not re.match(r"[a-z]+:", target)
    }
    missing = [doc.name for doc in DOCS if doc.resolve() not in linked]
    assert not missing, f"README.md does not link {missing}"


def test_quick_start_is_make_demo_and_make_test() -> None:
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    block = _FENCE.search(section)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group().splitlines()[1:-1]]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_every_make_target_named_exists() -> None:
    targets = set(_TARGET.findall((REPO_ROOT / "Makefile").read_text()))
    for page in PAGES:
        named = set(_MAKE.findall(page.read_text()))
        assert named <= targets, (
            f"{page.name} names make targets that do not exist: {named - targets}"
        )


# A repository path written in prose or a comment: a top-level directory of this repository,
# not inside a URL or an absolute path.
_REPO_PATH = re.compile(
    r"(?<![\w./@-])((?:exporter|tests|bench|tools|grafana|helm|docs|scripts)/[\w./-]*\w)"
)
_PATH_SOURCES = [
    *PAGES,
    REPO_ROOT / "Makefile",
    *(
        path
        for top in ("exporter", "bench", "tools", "grafana", "tests")
        for path in (REPO_ROOT / top).rglob("*.py")
    ),
]


@pytest.mark.parametrize("source", _PATH_SOURCES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_every_repository_path_named_exists(source: Path) -> None:
    """Pointers such as "the renderer (exporter/exposition.py)" go stale when a module moves:
    each one must still lead to a file or directory."""
    text = source.read_text()
    missing = [
        path
        for path in sorted(set(_REPO_PATH.findall(text)))
        if "*" not in path and not (REPO_ROOT / path).exists()
    ]
    assert not missing, f"{source.relative_to(REPO_ROOT)} names paths that do not exist: {missing}"


def test_mixin_readme_maps_every_entry_of_grafana() -> None:
    """grafana/README.md is the map of the mixin: it names each of its files and directories."""
    text = MIXIN_README.read_text()
    entries = [
        path.name + ("/" if path.is_dir() else "")
        for path in MIXIN.iterdir()
        if path.name not in ("__init__.py", "__pycache__")
    ]
    missing = [entry for entry in entries if entry not in text]
    assert not missing, f"grafana/README.md does not describe {missing}"
