"""The incremental exposition is byte-for-byte what prometheus_client renders afresh."""

from __future__ import annotations

import gzip
import random
import zlib
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from exporter.exposition import Exposition, RenderCache, body
from exporter.generations.collector import GenerationsCollector
from exporter.generations.mirror import Exemplar, SeriesMirror
from exporter.generations.series import PERSISTED, SeriesKey, SeriesValue
from exporter.metrics import Type

TEXT = None
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_WITH_ESCAPING = "text/plain; version=1.0.0; escaping=underscores"
ACCEPTS = (TEXT, OPENMETRICS, TEXT_WITH_ESCAPING)
# Label values a gateway could send: quotes, backslashes, newlines, non-ASCII.
VALUES = ("chat", "gpt-5", 'say "hi"', "back\\slash", "two\nlines", "café", "", "other")


def _key(rng: random.Random, attribution: tuple[str, ...]) -> SeriesKey:
    metric = rng.choice(PERSISTED)
    names = (*metric.labels, *(attribution if metric.attributed else ()))
    return SeriesKey(metric.name, tuple((name, rng.choice(VALUES)) for name in names))


def _change(rng: random.Random, mirror: SeriesMirror, key: SeriesKey, wall: float) -> None:
    """One committed lookup's worth of change to ``key``, as the state writer publishes it."""
    metric = next(m for m in PERSISTED if m.name == key.metric)
    current = mirror.values.get(key, SeriesValue())
    amount = Decimal(rng.choice(("0.5", "3", "0.000125", "1200", "7e-7")))
    if metric.type is Type.HISTOGRAM:
        current, bucket = current.observe(metric, amount)
        if rng.random() < 0.5:
            gen_id = f"gen_{rng.randrange(10**12):026d}"
            mirror.exemplars[(key, bucket)] = Exemplar(gen_id, float(amount), wall)
    else:
        current = current.add(amount)
    mirror.values[key] = current


def _fresh(exposition: Exposition, accept: str | None) -> bytes:
    encoder, _ = choose_encoder(accept or "")
    return encoder(exposition)


@pytest.mark.parametrize("attribution", [(), ("feature",)])
def test_after_random_changes_every_body_is_what_a_fresh_render_gives(
    attribution: tuple[str, ...],
) -> None:
    rng = random.Random(7)
    mirror = SeriesMirror()
    mirror.pending["default"] = 3
    collector = GenerationsCollector(mirror, ["default", "batch"], attribution, "detail")
    registry = CollectorRegistry()
    requests = Counter("demo_requests", "Live counter.", ["path"], registry=registry)
    Gauge("demo_temperature", "Live gauge.", registry=registry).set(21.5)
    exposition = Exposition(registry, [collector])
    keys = [_key(rng, attribution) for _ in range(60)]
    for step in range(40):
        for key in rng.sample(keys, rng.randrange(0, 12)):
            _change(rng, mirror, key, 1_700_000_000.0 + step)
        if step % 7 == 0:  # a series stored under other labels: kept, never published
            _change(rng, mirror, _key(rng, ("customer",)), 1_700_000_000.0)
        requests.labels(path=rng.choice(VALUES)).inc()
        mirror.pending["batch"] = step
        for accept in rng.sample(ACCEPTS, len(ACCEPTS)):
            body, content_type = exposition.render(accept, gzip_ok=False)
            assert body == _fresh(exposition, accept), (step, accept)
            assert content_type == choose_encoder(accept or "")[1]
            zipped, _ = exposition.render(accept, gzip_ok=True)
            assert gzip.decompress(zipped) == body
    assert b'generation_id="gen_' in exposition.render(OPENMETRICS, False)[0]


def test_the_gzip_body_is_one_member_any_reader_takes_whole() -> None:
    mirror = SeriesMirror()
    rng = random.Random(3)
    for _ in range(200):
        _change(rng, mirror, _key(rng, ()), 1.0)
    exposition = Exposition(CollectorRegistry(), [GenerationsCollector(mirror, ["default"])])
    exposition.render(TEXT, gzip_ok=True)  # cache the blocks
    _change(rng, mirror, next(iter(mirror.values)), 2.0)
    plain, _ = exposition.render(TEXT, gzip_ok=False)
    zipped, _ = exposition.render(TEXT, gzip_ok=True)
    reader = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one member, as single-stream readers read
    assert reader.decompress(zipped) == plain
    assert reader.eof
    assert reader.unused_data == b""


def _counter(series: object) -> Metric:
    family = CounterMetricFamily("things", "Things.", labels=["name"])
    for key, value in series:  # type: ignore[attr-defined]
        family.add_metric([key], value.total)
    return family


def test_only_series_whose_value_changed_are_rendered_again() -> None:
    encoder, _ = choose_encoder("")
    cache = RenderCache(encoder, openmetrics=False)
    rendered: list[list[str]] = []

    def build(series: object) -> Metric:
        rendered.append([key for key, _ in series])  # type: ignore[attr-defined]
        return _counter(series)

    one, two = SeriesValue(total=Decimal(1)), SeriesValue(total=Decimal(2))
    first = cache.family("things", [("a", one), ("b", two)], build)
    again = cache.family("things", [("a", one), ("b", two)], build)
    changed = cache.family("things", [("a", one), ("b", SeriesValue(total=Decimal(5)))], build)
    assert rendered == [["a", "b"], ["b"]]
    assert body([again]) == body([first])
    assert again.deflated() is first.deflated()  # compressed once while nothing changes
    assert changed.deflated() is not first.deflated()
    assert body([changed]) == encoder(_One([("a", one), ("b", SeriesValue(total=Decimal(5)))]))
    reordered = cache.family("things", [("b", two), ("a", one)], build)
    assert body([reordered]).index(b'name="b"') < body([reordered]).index(b'name="a"')


class _One:
    def __init__(self, series: object) -> None:
        self._series = series

    def collect(self) -> list[Metric]:
        return [_counter(self._series)]


def test_client_chosen_accept_variants_keep_a_bounded_number_of_caches() -> None:
    mirror = SeriesMirror()
    _change(random.Random(1), mirror, _key(random.Random(1), ()), 1.0)
    exposition = Exposition(CollectorRegistry(), [GenerationsCollector(mirror, ["default"])])
    for minor in range(50):
        accept = f"application/openmetrics-text; version=1.{minor}.0"
        body, _ = exposition.render(accept, gzip_ok=False)
        assert body == _fresh(exposition, accept)
    assert len(exposition._caches) <= 4
