"""The code users copy from the README and docs/ works: every Python block compiles, and the
"Sending traces" Collector configs parse, name the exporter's real trace path and forward
only the AI spans. (TypeScript is type-checked by tests/integration/test_readme_snippets.py.)"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from exporter import routes
from tests.support.processes import REPO_ROOT
from tests.support.snippets import Snippet, section_snippets, snippets

GENERATIONS_DOC = REPO_ROOT / "docs" / "generations.md"
PYTHON = snippets("python")


def test_the_client_code_page_has_python_and_typescript_to_check() -> None:
    page = REPO_ROOT / "docs" / "sending-ids.md"
    assert any(s.page == page for s in PYTHON)
    assert any(s.page == page for s in snippets("ts"))


@pytest.mark.parametrize("snippet", PYTHON, ids=lambda s: s.where)
def test_every_python_snippet_compiles(snippet: Snippet) -> None:
    compile(snippet.code, snippet.where, "exec")


def collector_configs() -> list[dict[str, Any]]:
    blocks = section_snippets(GENERATIONS_DOC, "Sending traces", "yaml")
    assert len(blocks) == 2, "the fan-out config and the routing one"
    configs = [yaml.safe_load(block.code) for block in blocks]
    assert all(isinstance(config, dict) for config in configs)
    return configs


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` added to ``base`` as a user adds a snippet to a config: maps merge."""
    out = dict(base)
    for key, value in extra.items():
        known = out.get(key)
        out[key] = merged(known, value) if isinstance(known, dict) else value
    return out


def pipelines_are_whole(config: dict[str, Any]) -> None:
    """Every component a pipeline names is defined, as the Collector checks at start."""
    for name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                defined = set(config.get(kind) or {}) | set(config.get("connectors") or {})
                assert component in defined, f"pipeline {name}: {kind} {component} undefined"


def exporter_endpoints(config: dict[str, Any]) -> list[str]:
    return [
        settings["traces_endpoint"]
        for name, settings in config["exporters"].items()
        if name.split("/")[0] == "otlphttp" and "vercel-ai-gateway-exporter" in name + str(settings)
    ]


def test_the_collector_configs_parse_and_name_the_real_trace_path() -> None:
    fan_out, routing = collector_configs()
    pipelines_are_whole(fan_out)
    pipelines_are_whole(merged(fan_out, routing))
    endpoints = exporter_endpoints(fan_out) + exporter_endpoints(routing)
    assert len(endpoints) == 3
    for endpoint in endpoints:
        assert urlparse(endpoint).path == routes.TRACES, endpoint
        assert urlparse(endpoint).port == 9853, "the exporter's default port"


def test_only_filtered_spans_reach_the_exporter() -> None:
    fan_out, routing = collector_configs()
    for config in (fan_out, merged(fan_out, routing)):
        for name, pipeline in config["service"]["pipelines"].items():
            to_exporter = [e for e in pipeline["exporters"] if "vercel-ai-gateway-exporter" in e]
            if to_exporter or "routing" in pipeline["exporters"]:
                assert pipeline["processors"][0] == "filter/ai-spans", name


def drop_condition() -> str:
    fan_out, _ = collector_configs()
    (condition,) = fan_out["processors"]["filter/ai-spans"]["traces"]["span"]
    return str(condition)


# The one shape the drop condition has: not (IsMatch(name, "…") or attributes["…"] != nil …).
_SHAPE = re.compile(r"not \((?P<terms>.*)\)", re.DOTALL)
_NAME = re.compile(r'^IsMatch\(name, "(?P<pattern>[^"\\]*)"\)$')
_ATTRIBUTE = re.compile(r'^attributes\["(?P<key>[^"]+)"\] != nil$')


def kept(condition: str, name: str, attributes: set[str]) -> bool:
    """Whether the filter forwards a span (a span is dropped when the condition holds)."""
    shape = _SHAPE.fullmatch(condition.strip())
    assert shape, condition
    for term in re.split(r"\s+or\s+", shape["terms"].strip()):
        by_name, by_attribute = _NAME.match(term), _ATTRIBUTE.match(term)
        assert by_name or by_attribute, f"a term this check cannot read: {term}"
        if by_name and re.search(by_name["pattern"], name):
            return True
        if by_attribute and by_attribute["key"] in attributes:
            return True
    return False


@pytest.mark.parametrize(
    ("name", "attributes", "forwarded"),
    [
        ("ai.generateText.doGenerate", {"ai.response.providerMetadata"}, True),  # AI SDK 5, 6
        ("ai.streamText.doStream", {"ai.response.id"}, True),
        ("ai.embed.doEmbed", set(), True),
        ("chat anthropic/claude-sonnet-4.6", {"gen_ai.operation.name"}, True),  # AI SDK 7
        ("POST /api/chat", {"ai.response.providerMetadata"}, True),
        ("openai.chat", {"gen_ai.system", "gen_ai.response.id"}, True),
        ("GET /healthz", {"http.route"}, False),
        ("aim.query", set(), False),
        ("SELECT users", {"db.system"}, False),
    ],
)
def test_the_filter_forwards_ai_spans_and_drops_the_rest(
    name: str, attributes: set[str], forwarded: bool
) -> None:
    assert kept(drop_condition(), name, attributes) is forwarded
