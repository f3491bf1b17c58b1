"""Publishes the generation metrics from the committed mirror, with exemplars."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from prometheus_client.core import (
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar as ClientExemplar
from prometheus_client.utils import floatToGoString

from exporter.exposition import Chunk, RenderCache
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import SKIPPABLE_FIELDS
from exporter.generations.series import (
    ABANDON_REASONS,
    LOOKUP_OUTCOMES,
    PERSISTED,
    SeriesKey,
    SeriesValue,
)
from exporter.metrics import (
    GENERATION_IDS_ABANDONED,
    GENERATION_LOOKUP_RETRIES_DEFERRED,
    GENERATION_LOOKUPS,
    GENERATION_OBSERVATIONS_FOLDED,
    GENERATION_OBSERVATIONS_SKIPPED,
    GENERATION_QUEUE_LENGTH,
    Family,
    Type,
)

ZERO = SeriesValue()  # one object, so a zero series is rendered once, not on every scrape


def zero_series(team: str) -> list[SeriesKey]:
    """The pipeline's series known in advance, published at 0 before their first event so
    rates, ratios and panels exist from the start (Prometheus' advice for known labels)."""
    own = (("vercel_team", team),)
    keys = [
        *(SeriesKey(GENERATION_LOOKUPS.name, (*own, ("outcome", o))) for o in LOOKUP_OUTCOMES),
        *(SeriesKey(GENERATION_IDS_ABANDONED.name, (*own, ("reason", r))) for r in ABANDON_REASONS),
        SeriesKey(GENERATION_LOOKUP_RETRIES_DEFERRED.name, own),
        SeriesKey(GENERATION_OBSERVATIONS_FOLDED.name, own),
    ]
    keys += [
        SeriesKey(GENERATION_OBSERVATIONS_SKIPPED.name, (*own, ("field", field), ("reason", why)))
        for field in SKIPPABLE_FIELDS
        for why in ("missing", "invalid")
    ]
    return keys


class GenerationsCollector(Collector):
    """The committed mirror as metric families, also rendered incrementally for scrapes
    (exporter/exposition.py). The generation families carry the configured attribution
    labels after the table's."""

    def __init__(
        self,
        mirror: SeriesMirror,
        teams: Sequence[str],
        attribution: Sequence[str] = (),
        attribution_help: str = "",
    ) -> None:
        self._mirror = mirror
        self._teams = teams
        self._attribution = tuple(attribution)
        self._attribution_help = attribution_help
        self._label_names = {m.name: (*m.labels, *self._extra(m)[0]) for m in PERSISTED}

    def collect(self) -> Iterable[Metric]:
        for metric, series in self._published():
            yield self._family(metric, series)
        yield self._queue()

    def render(self, cache: RenderCache) -> list[Chunk]:
        """What ``collect`` yields, through ``cache``: only changed series are rendered."""
        chunks = [
            cache.family(metric.name, series, partial(self._family, metric))
            for metric, series in self._published()
        ]
        chunks.append(Chunk([cache.encode(self._queue())]))
        return chunks

    def _published(self) -> list[tuple[Family, list[tuple[SeriesKey, SeriesValue]]]]:
        """Each persisted family with its series in exposition order: the mirror's, then the
        zero series not in it yet. A series under other attribution labels than configured
        (the configuration changed since it was stored) is kept on disk but not published,
        since a family's series must all have the same labels."""
        values = dict(self._mirror.values)
        for team in self._teams:
            for key in zero_series(team):
                values.setdefault(key, ZERO)
        by_metric: dict[str, list[tuple[SeriesKey, SeriesValue]]] = {m.name: [] for m in PERSISTED}
        for key, value in values.items():
            by_metric.setdefault(key.metric, []).append((key, value))
        published = []
        for metric in PERSISTED:
            names = self._label_names[metric.name]
            series = [(k, v) for k, v in by_metric[metric.name] if k.label_names == names]
            published.append((metric, series))
        return published

    def _queue(self) -> Metric:
        queue = GENERATION_QUEUE_LENGTH.gauge()
        pending = dict(self._mirror.pending)
        stranded = sorted(
            team for team, count in pending.items() if count and team not in self._teams
        )
        for team in [*self._teams, *stranded]:
            queue.add_metric([team], float(pending.get(team, 0)))
        return queue

    def _extra(self, metric: Family) -> tuple[tuple[str, ...], str]:
        """The attribution labels a family carries, and the help text that says so."""
        if metric.attributed and self._attribution:
            return self._attribution, self._attribution_help
        return (), ""

    def _family(self, metric: Family, series: Sequence[tuple[SeriesKey, SeriesValue]]) -> Metric:
        extra, detail = self._extra(metric)
        if metric.type is Type.COUNTER:
            counter = metric.counter(detail, extra)
            for key, value in series:
                counter.add_metric([v for _, v in key.labels], float(value.total))
            return counter
        family = metric.histogram(detail, extra)
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
