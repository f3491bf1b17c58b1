"""Publishes the generation metrics from the committed mirror, with exemplars."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client.core import (
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar as ClientExemplar
from prometheus_client.utils import floatToGoString

from exporter.generations.series import (
    ABANDON_REASONS,
    LOOKUP_OUTCOMES,
    PERSISTED,
    SeriesKey,
    SeriesValue,
)
from exporter.generations.store import SeriesMirror
from exporter.metrics import (
    GENERATION_IDS_ABANDONED,
    GENERATION_LOOKUPS,
    GENERATION_QUEUE_LENGTH,
    Family,
    Type,
)

KNOWN_IN_ADVANCE = [
    *((GENERATION_LOOKUPS, "outcome", o) for o in LOOKUP_OUTCOMES),
    *((GENERATION_IDS_ABANDONED, "reason", r) for r in ABANDON_REASONS),
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
                    SeriesKey(metric.name, (("vercel_team", team), (label, known))), SeriesValue()
                )
        by_metric: dict[str, list[tuple[SeriesKey, SeriesValue]]] = {m.name: [] for m in PERSISTED}
        for key, value in values.items():
            by_metric.setdefault(key.metric, []).append((key, value))
        for metric in PERSISTED:
            yield self._family(metric, by_metric[metric.name])
        queue = GENERATION_QUEUE_LENGTH.gauge()
        pending = dict(self._mirror.pending)
        for team in self._teams:
            queue.add_metric([team], float(pending.get(team, 0)))
        yield queue

    def _family(self, metric: Family, series: list[tuple[SeriesKey, SeriesValue]]) -> Metric:
        if metric.type is Type.COUNTER:
            counter = metric.counter()
            for key, value in series:
                counter.add_metric([v for _, v in key.labels], float(value.total))
            return counter
        family = metric.histogram()
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
