"""Which models the exporter's traffic used, read from the committed generation series.

The model catalog publishes prices for these models and ranks them by their requests, while
the pipeline is what counts them: both are handed this view of one series mirror, built
before either, so neither reaches for the other.
"""

from __future__ import annotations

from exporter.generations.mirror import SeriesMirror
from exporter.generations.observations import OTHER, UNKNOWN
from exporter.metrics import GENERATION_REQUESTS


class ModelUsage:
    """A read-only view of the mirror the pipeline fills (it loads the store into it)."""

    def __init__(self, mirror: SeriesMirror) -> None:
        self._mirror = mirror

    def requests(self) -> dict[str, int]:
        """Requests counted per model label (all teams, as committed); the folded ``other``
        and ``unknown`` values name no model."""
        counts: dict[str, int] = {}
        for key, value in list(self._mirror.values.items()):
            if key.metric == GENERATION_REQUESTS.name:
                model = dict(key.labels)["model"]
                if model not in (OTHER, UNKNOWN):
                    counts[model] = counts.get(model, 0) + int(value.total)
        return counts
