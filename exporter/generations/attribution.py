"""Attribution labels: cost by feature, customer or environment, from what applications say.

Custom Reporting answers "spend by X" at 5 USD per 1,000 queries; the exporter can answer it
for free from what it is given with each ID: a span attribute (``ai.telemetry.functionId``,
``ai.telemetry.metadata.customer`` …; on AI Gateway's own drain spans
``vercel.ai_gateway.api_key.name``, ``.user.id``, ``.tags``, ``.environment``,
``vercel.project.id``) or a field sent with an ID on ``POST /generations``. A list (the
drain's tags) is one value, its items joined by commas.
None are configured by default, so nothing changes for users who do not ask.

The values are stored with the ID, made safe and cut to a label's length first (a 466 KB
value sent with 10,000 IDs once wrote 1.6 GB), so a restart neither loses nor re-labels them;
each label admits a bounded number of values when the generation is observed, the rest folded
into ``other``, like models are (at observation, not intake: made-up IDs must not use up the
slots of real values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.config import AttributionConfig, ConfigError
from exporter.generations.observations import OTHER, LabelLimiter
from exporter.labels import safe_label
from exporter.metrics import ATTRIBUTION_INFO, FAMILIES

NONE = "none"  # the value of a label the application did not send
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Labels Prometheus or its operators add to every series, besides the exporter's own.
_TARGET_LABELS = frozenset(
    {"job", "instance", "le", "quantile", "namespace", "pod", "service", "container", "endpoint"}
)

LabelPairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Label:
    name: str
    spans: tuple[str, ...]  # span (then resource) attributes, the first present wins
    fields: tuple[str, ...]  # fields of a POST /generations body


def attribution_names(config: AttributionConfig) -> list[str]:
    """The configured label names, in order, without checking them."""
    return list(dict.fromkeys(entry.partition("=")[0] for entry in config.labels))


def _labels(config: AttributionConfig) -> list[Label]:
    """Each configured label with its sources; a name is refused when it would collide."""
    taken = {label for family in FAMILIES for label in family.labels} | _TARGET_LABELS
    sources: dict[str, list[str]] = {}
    for entry in config.labels:
        name, _, source = entry.partition("=")
        if not _NAME.fullmatch(name) or name.startswith("__"):
            raise ConfigError(
                f"attribution.labels {entry!r}: {name!r} is not a Prometheus label name "
                "(lower case letters, digits and _, not starting with a digit or __)"
            )
        if name in taken:
            raise ConfigError(
                f"attribution.labels {entry!r}: {name!r} is a label the exporter or Prometheus "
                "already uses; choose another name"
            )
        sources.setdefault(name, []).append(source)
    return [
        Label(
            name,
            tuple(s.removeprefix("span:") for s in kinds if s.startswith("span:")),
            tuple(s.removeprefix("field:") for s in kinds if s.startswith("field:")),
        )
        for name, kinds in sources.items()
    ]


class Attribution(Collector):
    """The configured attribution labels: where their values come from, and their bounds.

    As a collector it publishes the configuration (the info family), which is what a
    dashboard's "cost by label" panels are driven by.
    """

    def __init__(
        self, config: AttributionConfig, known: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        self.labels = _labels(config)
        self.max_values = config.max_values
        known = known or {}
        self._limits = {
            label.name: LabelLimiter(config.max_values, known.get(label.name, ()))
            for label in self.labels
        }

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def from_span(
        self, span: Span, resource: Sequence[KeyValue], ancestors: Sequence[Span] = ()
    ) -> str:
        """The stored form of a span's attribution values ("" when none is configured): each
        from the span, else its nearest ancestor in the request that has it (AI SDK 7 keeps
        the function ID on the outer spans), else the resource."""
        values = {}
        for label in self.labels:
            value = _first(span.attributes, label.spans)
            for ancestor in ancestors:
                if value:
                    break
                value = _first(ancestor.attributes, label.spans)
            value = value or _first(resource, label.spans)
            if value is not None:
                values[label.name] = safe_label(value)
        return encode(values)

    def from_fields(self, fields: Mapping[str, str]) -> str:
        """The stored form of the attribution fields sent with IDs on POST /generations."""
        values = {}
        for label in self.labels:
            value = next((fields[f] for f in label.fields if f in fields), None)
            if value is not None:
                values[label.name] = safe_label(value)
        return encode(values)

    def pairs(self, stored: str) -> LabelPairs:
        """The label pairs of a stored value set, each value made safe and bounded."""
        values = decode(stored)
        out = []
        for label in self.labels:
            raw = values.get(label.name)
            value = NONE if raw is None else safe_label(raw)
            out.append((label.name, self._limits[label.name].admit(value)))
        return tuple(out)

    def collect(self) -> Iterable[Metric]:
        family = ATTRIBUTION_INFO.gauge()
        for label in self.labels:
            sources = [*(f"span:{k}" for k in label.spans), *(f"field:{k}" for k in label.fields)]
            family.add_metric([label.name, ",".join(sources)], 1.0)
        return [family]

    def help_text(self) -> str:
        """What the help text of an attributed family says about the extra labels (not
        ``describe``, which a registry takes for the collector's description)."""
        if not self.labels:
            return ""
        return (
            f"Attribution labels {', '.join(self.names)}: at most {self.max_values} values each, "
            f"the rest '{OTHER}'; '{NONE}' when the application sent none."
        )


def _first(attributes: Sequence[KeyValue], keys: Sequence[str]) -> str | None:
    for key in keys:
        for attribute in attributes:
            if attribute.key == key:
                kind = attribute.value.WhichOneof("value")
                if kind == "string_value":
                    return attribute.value.string_value
                if kind in ("int_value", "bool_value", "double_value"):
                    return str(getattr(attribute.value, kind)).lower()
                if kind == "array_value":  # a list of tags: one value, in the order sent
                    items = attribute.value.array_value.values
                    return ",".join(item.string_value for item in items if item.string_value)
    return None


def encode(values: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(values.items())), separators=(",", ":")) if values else ""


def decode(stored: str) -> dict[str, str]:
    if not stored:
        return {}
    try:
        values = json.loads(stored)
    except ValueError:
        return {}
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}
