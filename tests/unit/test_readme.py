"""The README's configuration reference stays complete as options are added."""

from __future__ import annotations

from exporter.cli import default_text
from exporter.config import options
from exporter.generations.series import METRICS
from tests.support.processes import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def test_every_option_is_in_the_configuration_table() -> None:
    for option in options():
        row = next(
            (line for line in README.splitlines() if line.startswith(f"| `{option.flag}` |")), None
        )
        assert row is not None, f"{option.flag} missing from the README"
        assert option.env in row
        assert f"`{default_text(option)}`" in row or default_text(option) == "none"


def test_every_generation_metric_is_in_the_metrics_table() -> None:
    for metric in METRICS:
        short = metric.name.removeprefix("vercel_ai_gateway_")
        assert f"`{short}`" in README, f"{metric.name} missing from the README"
