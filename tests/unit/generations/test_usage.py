"""The models in use: what the catalog prices and ranks, read from the pipeline's mirror."""

from __future__ import annotations

from decimal import Decimal

from exporter.generations.mirror import SeriesMirror
from exporter.generations.series import SeriesKey, SeriesValue
from exporter.generations.usage import ModelUsage
from exporter.metrics import GENERATION_COST, GENERATION_REQUESTS


def commit(mirror: SeriesMirror, metric: str, team: str, model: str, total: int) -> None:
    key = SeriesKey(metric, (("model", model), ("vercel_team", team)))
    mirror.values[key] = SeriesValue(total=Decimal(total))


def test_requests_per_model_of_every_team_as_the_mirror_holds_them_now() -> None:
    mirror = SeriesMirror()
    usage = ModelUsage(mirror)  # before anything is loaded, as the composition root builds it
    assert usage.requests() == {}
    commit(mirror, GENERATION_REQUESTS.name, "prod", "openai/gpt-5", 3)
    commit(mirror, GENERATION_REQUESTS.name, "dev", "openai/gpt-5", 2)
    commit(mirror, GENERATION_REQUESTS.name, "prod", "other", 9)
    commit(mirror, GENERATION_REQUESTS.name, "prod", "unknown", 9)
    commit(mirror, GENERATION_COST.name, "prod", "anthropic/claude-sonnet-4.6", 7)
    assert usage.requests() == {"openai/gpt-5": 5}, "other and unknown name no model"
