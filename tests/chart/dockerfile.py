"""Just enough of a Dockerfile parser to compare the image's runtime settings with the chart's."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from tests.support.processes import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


@dataclass
class Stage:
    """The instructions of one build stage, by name (later ones win, as in Docker)."""

    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, instruction: str) -> str:
        found = [args for name, args in self.instructions if name == instruction]
        assert found, f"no {instruction} in the stage FROM {self.base}"
        return found[-1]

    def exec_form(self, instruction: str) -> list[str]:
        """A JSON-array instruction (ENTRYPOINT, CMD, VOLUME) as its list."""
        value: list[str] = json.loads(self.last(instruction))
        return value

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, args in self.instructions:
            if name == "ENV":
                for pair in shlex.split(args):
                    key, _, value = pair.partition("=")
                    out[key] = value
        return out


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def _stages() -> list[Stage]:
    """The instructions before the first FROM (global ARGs) as a stage of base "", then each
    build stage."""
    out = [Stage("")]
    for line in _logical_lines(DOCKERFILE.read_text()):
        name, _, args = line.partition(" ")
        if name.upper() == "FROM":
            out.append(Stage(args.strip()))
        else:
            out[-1].instructions.append((name.upper(), args.strip()))
    return out


def global_args() -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults."""
    pairs = (args.partition("=") for name, args in _stages()[0].instructions if name == "ARG")
    return {key: value for key, _, value in pairs}


def stages() -> list[Stage]:
    return _stages()[1:]


def final_stage() -> Stage:
    return stages()[-1]
