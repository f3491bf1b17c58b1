"""Spans that look like a model call through AI Gateway but carry no generation ID.

An upgrade setting produces such spans without a word: AI SDK 7's ``OpenTelemetry``
integration records the provider metadata only with ``providerMetadata: true``. And every AI SDK
version takes it from a step's closing stream part, so the span of a step whose stream fails
part way has none (``recordOutputs: false`` drops nothing of it: AI SDK 5 and 6 record it as a
plain attribute, not an output). The generations are billed, and the exporter never hears of
them. So every model-call span on ``/v1/traces`` is counted by
whether it carried an ID, and when most of a team's have none the log (once) and the landing
page say so, naming the likely setting.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence

from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.core import Metric

from exporter.metrics import GENERATION_MODEL_CALL_SPANS

log = logging.getLogger(__name__)

# gen_ai.operation.name of a call that makes a generation (embeddings have no ID to carry).
GENERATING = frozenset({"chat", "text_completion", "generate_content"})
# Where a span says which service it called; a call through AI Gateway names it.
GATEWAY_KEYS = frozenset(
    {"ai.model.provider", "gen_ai.provider.name", "gen_ai.system", "server.address"}
)
OPERATION_KEY = "gen_ai.operation.name"
JUDGED_AFTER = 20  # a team's model-call spans seen before their share without an ID is judged
HINTS = {
    "ai_sdk": "AI SDK model-call spans (ai.*.doGenerate, ai.*.doStream) carry no provider "
    "metadata: the AI SDK records it for every step that finishes, whatever recordOutputs says, "
    "so these are likely steps whose stream failed part way; push the IDs read off the stream, "
    "or use AI Gateway's trace drain",
    "gen_ai": "chat spans carry no generation ID: AI SDK 7's OpenTelemetry integration records "
    "provider metadata only with providerMetadata: true (on chat spans from ai 7.0.56, on step "
    "spans only before), and OpenAI-compatible instrumentations record none for some APIs; set "
    "it, push the IDs, or use AI Gateway's trace drain",
}


def model_call(span: Span) -> str | None:
    """The kind of model call through the gateway a span records: ``ai_sdk`` (the AI SDK's
    ``ai.*.doGenerate``/``doStream``), ``gen_ai`` (a semantic-convention span: AI SDK 7's
    ``chat <model>``, OpenAI instrumentations), or None for any other span."""
    ai_sdk = _is_ai_sdk(span.name)
    operation = None
    gateway = False
    for attribute in span.attributes:
        key = attribute.key
        if key == OPERATION_KEY:
            operation = attribute.value.string_value
        elif not gateway and key in GATEWAY_KEYS:
            gateway = "gateway" in attribute.value.string_value
        if gateway and (ai_sdk or operation is not None):
            break  # the rest cannot change the answer (a span may hold a hundred attributes)
    return _kind(ai_sdk, operation, gateway)


def call_kind(name: str, operation: str | None, gateway: bool) -> str | None:
    """``model_call`` of a span named ``name``, for a reader that found its operation
    (``OPERATION_KEY``) and whether one of its ``GATEWAY_KEYS`` names the gateway in its own
    pass over the attributes."""
    return _kind(_is_ai_sdk(name), operation, gateway)


def _is_ai_sdk(name: str) -> bool:
    return name.startswith("ai.") and name.endswith((".doGenerate", ".doStream"))


def _kind(ai_sdk: bool, operation: str | None, gateway: bool) -> str | None:
    if not gateway or not (ai_sdk or operation in GENERATING):
        return None
    return "ai_sdk" if ai_sdk else "gen_ai"


class ModelCallSpans:
    """The count of model-call spans per team, with and without an ID, and what to say when
    most have none."""

    def __init__(self, teams: Sequence[str]) -> None:
        self._counts: Counter[tuple[str, str]] = Counter(
            {(team, result): 0 for team in teams for result in ("with_id", "without_id")}
        )
        self._kind: dict[str, str] = {}  # the kind of a team's last model call without an ID
        self._warned: set[str] = set()

    def merge(self, counts: Counter[tuple[str, str]], kinds: dict[str, str]) -> None:
        """A request's counts (read off the event loop), then a warning if one is due."""
        self._counts.update(counts)
        self._kind.update(kinds)
        for team in {team for team, _ in counts}:
            if team not in self._warned and self._mostly_without(team):
                self._warned.add(team)
                log.warning(self._note(team), extra={"team": team})

    def _mostly_without(self, team: str) -> bool:
        without = self._counts[(team, "without_id")]
        return (
            without + self._counts[(team, "with_id")] >= JUDGED_AFTER
            and without > self._counts[(team, "with_id")]
        )

    def _note(self, team: str) -> str:
        without = self._counts[(team, "without_id")]
        total = without + self._counts[(team, "with_id")]
        return (
            f"team {team}: {without} of {total} model-call spans on /v1/traces carry no "
            f"generation ID, so their generations are not counted; likely cause: "
            f"{HINTS[self._kind.get(team, 'gen_ai')]}"
        )

    def notes(self) -> dict[str, str]:
        """For the landing page: what to say of each team whose model-call spans mostly have
        no ID now."""
        teams = {team for team, _ in self._counts}
        return {team: self._note(team) for team in teams if self._mostly_without(team)}

    def collect(self) -> Iterable[Metric]:
        family = GENERATION_MODEL_CALL_SPANS.counter()
        for (team, result), count in sorted(self._counts.items()):
            family.add_metric([team, result], count)
        return [family]
