"""Spend breakdown: looked-up generations by model and provider, Custom Reporting month to
date, and budgets."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    GREEN,
    ORANGE,
    PERCENT,
    RED,
    SHORT,
    USD,
    BarGauge,
    Row,
    Table,
    Target,
    Thresholds,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import rate, sel

COST = sel(metrics.GENERATION_COST, suffix="_sum")
MONTH = 'window="month_to_date"'
BUDGET = ", ".join(metrics.BUDGET_LIMIT.labels)
BUDGET_LEGEND = "{{vercel_team}} · {{name}} ({{scope_type}} {{scope}}, {{refresh_period}})"


def per_report(family: metrics.Family, label: str, *matchers: str) -> str:
    """A report family month to date by ``label``: deduplicated over replicas (max), then
    summed over teams, never over reports (two reports may count the same spend)."""
    selector = sel(family, MONTH, *matchers, f'{label}!=""')
    return f"sum by (report, {label}) (max by (vercel_team, report, {label}) ({selector}))"


def month_by(label: str, title: str, what: str, width: int = 8) -> BarGauge:
    expr = per_report(metrics.REPORT_COST, label, 'cost_type="total"')
    return BarGauge(
        title=title,
        description=f"Spend since the first of the month by {what}, from the exporter's Custom "
        f"Reporting queries (reports grouped by {label}, window month_to_date); summed over the "
        "selected teams. Empty when no such report is configured. Custom Reporting data can lag "
        "by a few minutes and needs a Pro or Enterprise plan.",
        targets=(Target(f"sort_desc({expr})", f"{{{{{label}}}}} ({{{{report}}}})", instant=True),),
        unit=USD,
        thresholds=fixed(BLUE),
        width=width,
    )


def budgets(family: metrics.Family, *matchers: str) -> str:
    return f"max by ({BUDGET}) ({sel(family, *matchers)})"


ROW = Row(
    "Spend breakdown",
    (
        TimeSeries(
            title="Spend per second by model",
            description="USD per second of the generations the exporter looked up, by model "
            "(sum of the generation cost histogram). Covers only generations whose IDs reach "
            "the exporter.",
            targets=(Target(f"sum by (model) ({rate(COST)})", "{{model}}"),),
            unit=USD,
            stack=True,
        ),
        TimeSeries(
            title="Spend per second by provider",
            description="USD per second of the generations the exporter looked up, by the "
            "provider that served them.",
            targets=(Target(f"sum by (provider) ({rate(COST)})", "{{provider}}"),),
            unit=USD,
            stack=True,
        ),
        TimeSeries(
            title="Spend per day by model",
            description="USD spent per model over the trailing 24 hours, from the generation "
            "cost histogram.",
            targets=(Target(f"sum by (model) (increase({COST}[1d]))", "{{model}}"),),
            unit=USD,
        ),
        TimeSeries(
            title="Spend per day by provider",
            description="USD spent per provider over the trailing 24 hours, from the generation "
            "cost histogram.",
            targets=(Target(f"sum by (provider) (increase({COST}[1d]))", "{{provider}}"),),
            unit=USD,
        ),
        month_by("model", "Month to date by model", "model"),
        month_by("provider", "Month to date by provider", "provider"),
        month_by("user", "Month to date by user", "user"),
        month_by("tag", "Month to date by tag", "tag", width=6),
        month_by("api_key_name", "Month to date by API key", "API key", width=6),
        Table(
            title="Month to date requests and tokens by model",
            description="Requests, input and output tokens and total cost since the first of "
            "the month, by model, from the Custom Reporting queries grouped by model (one row "
            "per report and model).",
            targets=tuple(
                Target(per_report(family, "model", *matchers), instant=True, format="table")
                for family, matchers in (
                    (metrics.REPORT_REQUESTS, ()),
                    (metrics.REPORT_TOKENS, ('token_type="input"',)),
                    (metrics.REPORT_TOKENS, ('token_type="output"',)),
                    (metrics.REPORT_COST, ('cost_type="total"',)),
                )
            ),
            unit=SHORT,
            columns=(
                ("report", "Report"),
                ("model", "Model"),
                ("Value #A", "Requests"),
                ("Value #B", "Input tokens"),
                ("Value #C", "Output tokens"),
                ("Value #D", "Cost"),
            ),
            units=(("Cost", USD),),
            sort="Cost",
        ),
        BarGauge(
            title="Budgets used",
            description="Share of each Vercel AI Gateway budget spent in its current period. "
            "Orange from 75 %, red from 90 % (the default threshold of "
            "VercelAIGatewayBudgetNearlyExhausted). Empty when no budgets are published.",
            targets=(
                Target(
                    f"{budgets(metrics.BUDGET_SPEND)} / ({budgets(metrics.BUDGET_LIMIT)} > 0)",
                    BUDGET_LEGEND,
                    instant=True,
                ),
            ),
            unit=PERCENT,
            thresholds=Thresholds(GREEN, ((ORANGE, 0.75), (RED, 0.9))),
            max_value=1,
            width=12,
        ),
        Table(
            title="Budget limits and spend",
            description="Limit, spend and BYOK spend of each budget in its current period.",
            targets=tuple(
                Target(budgets(family), instant=True, format="table")
                for family in (
                    metrics.BUDGET_LIMIT,
                    metrics.BUDGET_SPEND,
                    metrics.BUDGET_BYOK_SPEND,
                )
            ),
            unit=USD,
            columns=(
                ("Value #A", "Limit"),
                ("Value #B", "Spend"),
                ("Value #C", "BYOK spend"),
                ("vercel_team", "Team"),
                ("scope_type", "Scope type"),
                ("scope", "Scope"),
                ("name", "Budget"),
                ("refresh_period", "Period"),
            ),
            sort="Spend",
        ),
    ),
)
