"""Upstream strings that become label values cannot break an exposition, now or after a
restart: made safe before they are stored, and repaired when an older state holds them."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from exporter.gateway.models import Generation
from exporter.generations.collector import GenerationsCollector
from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import LabelLimiter, Observer
from exporter.generations.series import SeriesKey, SeriesValue
from exporter.generations.store import Store
from exporter.labels import MAX_LENGTH, safe_label
from exporter.metrics import GENERATION_OBSERVATIONS_FOLDED, GENERATION_REQUESTS
from exporter.redaction import SECRETS

HOSTILE = [
    "anthropic/\ud800claude",  # a lone surrogate: legal JSON, not encodable text
    "line\nbreak",
    "tab\tand\x00nul\x1b[31m",
    'quote"back\\slash',
    "sep\u2028arator",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_a_safe_label_is_printable_encodable_and_short(value: str) -> None:
    safe = safe_label(value)
    assert safe.isprintable()
    safe.encode("utf-8")
    assert len(safe) <= MAX_LENGTH
    assert safe_label(safe) == safe, "already safe values are left alone"


def test_ordinary_values_are_untouched_and_secrets_masked() -> None:
    assert safe_label("anthropic/claude-sonnet-4.6") == "anthropic/claude-sonnet-4.6"
    assert safe_label('he said "hi"') == 'he said "hi"'
    SECRETS.add("vck_label_secret_0123456789")
    assert safe_label("model-vck_label_secret_0123456789") == "model-[REDACTED]"


def expositions(mirror: SeriesMirror) -> tuple[bytes, bytes]:
    registry = CollectorRegistry()
    registry.register(GenerationsCollector(mirror, ["prod"]))
    return generate_latest(registry), generate_openmetrics(registry)  # type: ignore[no-untyped-call]


def test_hostile_records_are_observed_under_safe_labels() -> None:
    observer = Observer(LabelLimiter(100), LabelLimiter(100), LabelLimiter(100))
    mirror = SeriesMirror()
    for value in HOSTILE:
        gen = Generation(
            id="gen_01ARZ3NDEKTSV4RRFFQ69G5FAV",
            model=value,
            provider_name=value,
            finish_reason=value,
            total_cost=Decimal("0.01"),
        )
        for d in observer.deltas("prod", gen):
            assert all(safe_label(v) == v for _, v in d.labels), d.labels
            mirror.values[d.key] = SeriesValue(1, d.value)
    text, openmetrics = expositions(mirror)
    assert text.count(b"\n" + GENERATION_REQUESTS.name.encode()) == len(HOSTILE)
    assert openmetrics.endswith(b"# EOF\n")


def test_a_stored_unsafe_label_is_repaired_on_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.db"
    Store(path).close()
    labels = [
        ["vercel_team", "prod"],
        ["model", "bad\ud800"],
        ["provider", "p"],
        ["finish_reason", "stop"],
        ["streamed", "true"],
        ["byok", "false"],
    ]
    clean = [pair if pair[0] != "model" else ["model", "bad\ufffd"] for pair in labels]
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        # What 0.1.0 stored: json.dumps escapes the surrogate, so SQLite took the text.
        conn.executemany(
            "INSERT INTO series VALUES (?, ?, ?, ?, '')",
            [
                (GENERATION_REQUESTS.name, json.dumps(labels, separators=(",", ":")), 2, "2"),
                (GENERATION_REQUESTS.name, json.dumps(clean, separators=(",", ":")), 3, "3"),
            ],
        )
    store, mirror = Store(path), SeriesMirror()
    with caplog.at_level(logging.WARNING):
        store.load(mirror)
    assert "repaired stored label values" in caplog.text
    (key,) = [k for k in mirror.values if k.metric == GENERATION_REQUESTS.name]
    assert dict(key.labels)["model"] == "bad\ufffd"
    assert mirror.values[key].total == 5, "the two series became one, nothing lost"
    expositions(mirror)  # encodes in both formats
    store.close()
    again, reloaded = Store(path), SeriesMirror()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again.load(reloaded)
    assert "repaired" not in caplog.text, "repaired once, on disk"
    assert reloaded.values == mirror.values
    again.close()
    assert SeriesKey.parse(key.metric, key.labels_json()) == key


def test_model_and_provider_pairs_are_capped_and_folds_counted() -> None:
    """Each label alone may stay under its bound while their product explodes."""
    observer = Observer(LabelLimiter(100), LabelLimiter(100), LabelLimiter(10), LabelLimiter(10))
    series: set[tuple[str, str]] = set()
    folded = 0
    for n in range(50):
        gen = Generation(id="gen_01ARZ3NDEKTSV4RRFFQ69G5FAV", model=f"m{n}", provider_name=f"p{n}")
        for d in observer.deltas("prod", gen):
            labels = dict(d.labels)
            if d.metric is GENERATION_REQUESTS:
                series.add((labels["model"], labels["provider"]))
            if d.metric is GENERATION_OBSERVATIONS_FOLDED:
                folded += int(d.value)
    assert len(series) == 11 and ("other", "other") in series
    assert folded == 40
