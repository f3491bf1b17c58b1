"""The fenced code blocks of the README and docs/, which the tests check as code: Python is
compiled, TypeScript type-checked, YAML parsed and held to the exporter's real paths."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import REPO_ROOT

PAGES = (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))

# A fence may be indented (inside a list item); its closing fence has the same indent.
_FENCE = re.compile(
    r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)``` *$",
    re.DOTALL | re.MULTILINE,
)
_TITLE = re.compile(r'\btitle="([^"]+)"')


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    title: str | None  # the file name it is meant for (```ts title="generation-ids.ts")
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO_ROOT)}:{self.line}"


def snippets(language: str, pages: tuple[Path, ...] = PAGES) -> list[Snippet]:
    """Every block fenced as ``language``, in page order."""
    return [s for page in pages for s in _blocks(page, page.read_text(), 0, language)]


def section_snippets(page: Path, heading: str, language: str) -> list[Snippet]:
    """The ``language`` blocks of the ``## heading`` section of ``page``."""
    text = page.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return _blocks(page, text[: end if end != -1 else len(text)], start, language)


def _blocks(page: Path, text: str, start: int, language: str) -> list[Snippet]:
    out = []
    for match in _FENCE.finditer(text, start):
        info = match["info"].strip()
        if info.split(" ", 1)[0] != language:
            continue
        title = _TITLE.search(info)
        out.append(
            Snippet(
                page,
                text.count("\n", 0, match.start()) + 1,
                language,
                title[1] if title else None,
                textwrap.dedent(match["body"]),
            )
        )
    return out
