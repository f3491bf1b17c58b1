"""The ``/metrics`` body, rendered once per change instead of once per scrape.

Most of a large exposition is generation series, immutable values that move only when a
lookup commits; between two scrapes few of them change. An incremental collector keeps each
series' lines, rendered by prometheus_client's own encoder, until the series' value object
changes, and each family's bytes (and their deflate stream) until one of its series does. A
scrape then costs a walk over the series and a join, and the body stays byte-for-byte what
the library would render from the same collectors (``tests/unit/test_exposition.py``).

The gzip body is one gzip member whose deflate stream is the concatenation of independently
compressed blocks (each ends in a full flush, so it refers to nothing before it): unchanged
families reuse their compressed block, and any gzip reader sees an ordinary gzip file.
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

Encoder = Callable[[Collector], bytes]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

GZIP_LEVEL = 1  # the scrape is on the hot path; level 1 gives most of the size win
_EOF = b"# EOF\n"  # OpenMetrics' terminator, which the body carries once, at its end
_MAX_ENCODINGS = 4  # Accept variants kept; the version in Accept is client-chosen text
_RENDER_BATCH = 500  # series rendered at once: bounds the memory a first render takes


class _One:
    """One metric family as a collector, for the library's encoder."""

    def __init__(self, metric: Metric) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        return [self._metric]


@dataclass
class _Deflated:
    block: bytes | None = None


class Chunk:
    """Part of a body, as the pieces it is joined from (joined once, into the whole body),
    and its deflate block: made on first need, and kept with the family it came from until
    that family changes."""

    def __init__(self, parts: Sequence[bytes], kept: _Deflated | None = None) -> None:
        self.parts = parts
        self._kept = kept or _Deflated()

    def deflated(self) -> bytes:
        if self._kept.block is None:
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            blocks = [compressor.compress(part) for part in self.parts]
            self._kept.block = b"".join([*blocks, compressor.flush(zlib.Z_FULL_FLUSH)])
        return self._kept.block


def body(chunks: Sequence[Chunk]) -> bytes:
    return b"".join([part for chunk in chunks for part in chunk.parts])


def gzip_member(chunks: Sequence[Chunk]) -> bytes:
    """One gzip member (RFC 1952) made of the chunks' deflate blocks."""
    crc = 0
    size = 0
    for chunk in chunks:
        for part in chunk.parts:
            crc = zlib.crc32(part, crc)
            size += len(part)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, OS unknown
    final = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return b"".join([header, *(c.deflated() for c in chunks), final, trailer])


@dataclass
class _FamilyLines:
    """A family's header and each series' lines. The joined body is not kept: it would
    double the memory, and joining a few thousand series' lines costs a scrape little."""

    header: bytes = b""
    series: dict[Hashable, tuple[object, bytes]] = field(default_factory=dict)
    order: Sequence[Hashable] = ()
    deflated: _Deflated | None = None  # None: not rendered yet, or changed since


class RenderCache:
    """What one incremental collector rendered in one encoding, by family and series."""

    def __init__(self, encoder: Encoder, openmetrics: bool) -> None:
        self._encoder = encoder
        self._openmetrics = openmetrics
        self._families: dict[str, _FamilyLines] = {}

    def encode(self, metric: Metric) -> bytes:
        """The library's rendering of one family, without OpenMetrics' terminator."""
        body = self._encoder(_One(metric))
        return body[: -len(_EOF)] if self._openmetrics else body

    def family(
        self,
        name: str,
        series: Sequence[tuple[K, V]],
        build: Callable[[Sequence[tuple[K, V]]], Metric],
    ) -> Chunk:
        """The family ``name`` with ``series`` ((key, immutable value) in exposition order);
        ``build`` makes the family of the series given to it, and is given only those whose
        value object is not the one rendered last."""
        lines = self._families.setdefault(name, _FamilyLines())
        changed = [
            (key, value)
            for key, value in series
            if (seen := lines.series.get(key)) is None or seen[0] is not value
        ]
        order = [key for key, _ in series]
        if changed or lines.deflated is None:
            for start in range(0, max(len(changed), 1), _RENDER_BATCH):
                self._render(lines, changed[start : start + _RENDER_BATCH], build)
        if changed or lines.deflated is None or order != lines.order:
            if len(lines.series) > len(order):  # series no longer published: forget them
                lines.series = {key: lines.series[key] for key in order}
            lines.order = order
            lines.deflated = _Deflated()
        return Chunk([lines.header, *(lines.series[key][1] for key in order)], lines.deflated)

    def _render(
        self,
        lines: _FamilyLines,
        changed: Sequence[tuple[K, V]],
        build: Callable[[Sequence[tuple[K, V]]], Metric],
    ) -> None:
        metric = build(changed)
        text = self.encode(metric).splitlines(keepends=True)
        per_series = len(metric.samples) // len(changed) if changed else 0
        if per_series * len(changed) != len(metric.samples):
            raise ValueError(f"{metric.name}: series of one family differ in sample count")
        body_start = len(text) - len(metric.samples)
        lines.header = b"".join(text[:body_start])
        for index, (key, value) in enumerate(changed):
            start = body_start + index * per_series
            lines.series[key] = (value, b"".join(text[start : start + per_series]))


class Incremental(Protocol):
    """A collector that can also render itself through a RenderCache."""

    def collect(self) -> Iterable[Metric]: ...

    def render(self, cache: RenderCache) -> list[Chunk]: ...


class Exposition:
    """The scrape body: the registry's collectors rendered fresh, then the incremental ones.

    As a collector it yields the same families in the same order, so the library's encoder
    applied to it is the fresh rendering the cached body must equal.
    """

    def __init__(self, registry: CollectorRegistry, incremental: Sequence[Incremental]) -> None:
        self._registry = registry
        self._incremental = tuple(incremental)
        self._caches: OrderedDict[str, list[RenderCache]] = OrderedDict()
        self._lock = threading.Lock()  # scrapes render in worker threads; the caches are shared

    def collect(self) -> Iterable[Metric]:
        yield from self._registry.collect()
        for collector in self._incremental:
            yield from collector.collect()

    def render(self, accept: str | None, gzip_ok: bool) -> tuple[bytes, str]:
        """The body for a scraper's Accept header, gzipped when ``gzip_ok``; and its type."""
        encoder, content_type = choose_encoder(accept or "")
        openmetrics = content_type.startswith("application/openmetrics-text")
        fresh = encoder(self._registry)
        chunks = [Chunk([fresh[: -len(_EOF)] if openmetrics else fresh])]
        with self._lock:
            caches = self._caches_for(content_type, encoder, openmetrics)
            for collector, cache in zip(self._incremental, caches, strict=True):
                chunks += collector.render(cache)
        if openmetrics:
            chunks.append(Chunk([_EOF]))
        if gzip_ok:
            return gzip_member(chunks), content_type
        return body(chunks), content_type

    def _caches_for(
        self, content_type: str, encoder: Encoder, openmetrics: bool
    ) -> list[RenderCache]:
        caches = self._caches.get(content_type)
        if caches is None:
            caches = [RenderCache(encoder, openmetrics) for _ in self._incremental]
            self._caches[content_type] = caches
            if len(self._caches) > _MAX_ENCODINGS:
                self._caches.popitem(last=False)
        else:
            self._caches.move_to_end(content_type)
        return caches
