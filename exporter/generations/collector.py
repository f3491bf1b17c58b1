"""Publishes the generation metrics from the committed mirror, with exemplars."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar as ClientExemplar
from prometheus_client.utils import floatToGoString

from exporter.generations.series import (
    ABANDON_REASONS,
    ABANDONED,
    LOOKUP_OUTCOMES,
    LOOKUPS,
    METRICS,
    Kind,
    MetricDef,
    SeriesKey,
    SeriesValue,
)
from exporter.generations.store import SeriesMirror
from exporter.metrics import name

KNOWN_IN_ADVANCE = [
    *((LOOKUPS, "outcome", o) for o in LOOKUP_OUTCOMES),
    *((ABANDONED, "reason", r) for r in ABANDON_REASONS),
]


class GenerationsCollector(Collector):
    def __init__(self, mirror: SeriesMirror, teams: Sequence[str]) -> None:
        self._mirror = mirror
        self._teams = teams

    def collect(self) -> Iterable[Metric]:
        values = dict(self._mirror.values)
        # Series known in advance start at 0, so rates and ratios exist before the first event.
        for metric, label, known in KNOWN_IN_ADVANCE:
            for team in self._teams:
                values.setdefault(
                    SeriesKey(metric.name, (("team", team), (label, known))), SeriesValue()
                )
        by_metric: dict[str, list[tuple[SeriesKey, SeriesValue]]] = {m.name: [] for m in METRICS}
        for key, value in values.items():
            by_metric.setdefault(key.metric, []).append((key, value))
        for metric in METRICS:
            yield self._family(metric, by_metric[metric.name])
        queue = GaugeMetricFamily(
            name("generation_queue_length"),
            "Generation IDs waiting to be looked up.",
            labels=["team"],
        )
        pending = dict(self._mirror.pending)
        for team in self._teams:
            queue.add_metric([team], float(pending.get(team, 0)))
        yield queue

    def _family(self, metric: MetricDef, series: list[tuple[SeriesKey, SeriesValue]]) -> Metric:
        labels = list(metric.labels)
        if metric.kind is Kind.COUNTER:
            counter = CounterMetricFamily(metric.name, metric.help, labels=labels)
            for key, value in series:
                counter.add_metric([v for _, v in key.labels], float(value.total))
            return counter
        family = HistogramMetricFamily(metric.name, metric.help, labels=labels)
        # Spelt as client_python spells its own buckets (1e+06, not 1000000.0): the same
        # bucket must be the same label value wherever it comes from.
        bounds = [floatToGoString(b) for b in metric.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        exemplars = self._mirror.exemplars
        for key, value in series:
            buckets: list[tuple[str, float] | tuple[str, float, ClientExemplar]] = []
            cumulative = 0
            for index, le in enumerate(bounds):
                cumulative += value.buckets[index] if value.buckets else 0
                exemplar = exemplars.get((key, index))
                if exemplar is None:
                    buckets.append((le, float(cumulative)))
                else:
                    buckets.append(
                        (
                            le,
                            float(cumulative),
                            ClientExemplar(
                                {"generation_id": exemplar.generation_id},
                                exemplar.value,
                                exemplar.timestamp,
                            ),
                        )
                    )
            family.add_metric([v for _, v in key.labels], buckets, float(value.total))
        return family
