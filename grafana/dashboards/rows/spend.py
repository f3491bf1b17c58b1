"""Spend breakdown: counted generations by model and provider, Custom Reporting month to
date and by the hour, and budgets."""

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
    Stat,
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
BUDGET_LEGEND = (
    "{{vercel_team}} · {{name}} ({{scope_type}} {{scope}}, {{refresh_period}}, {{budget_source}})"
)
# Every label a report series may carry for its group: kept before a sum over the groups.
GROUPS = ", ".join(sorted(metrics.REPORT_DIMENSIONS))


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


def last_hour() -> str:
    """Each hourly report's spend in the last complete UTC hour: deduplicated over replicas
    (max), then summed over the report's groups, never over reports."""
    selector = sel(metrics.REPORT_COST, 'window="last_hour"', 'cost_type="total"')
    return f"sum by (vercel_team, report) (max by (vercel_team, report, {GROUPS}) ({selector}))"


ROW = Row(
    "Spend breakdown",
    (
        TimeSeries(
            title="Spend per second by model",
            description="USD per second of the generations the exporter counted, by model "
            "(sum of the generation cost histogram). Covers only generations that reach the "
            "exporter (a drain span or an ID): the Spend coverage panel says what share of "
            "the spend that is.",
            targets=(Target(f"sum by (model) ({rate(COST)})", "{{model}}"),),
            unit=USD,
            stack=True,
        ),
        TimeSeries(
            title="Spend per second by provider",
            description="USD per second of the generations the exporter counted, by the "
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
            description="Limit, spend and BYOK spend of each budget in its current period; "
            "whether BYOK spend counts against it (Vercel's includeByokInQuota), the lowest "
            "alert threshold set on it in Vercel, and its source: set on its scope, or default "
            "(inherited from the team's budget defaults, often one per API key).",
            targets=tuple(
                Target(budgets(family), instant=True, format="table")
                for family in (
                    metrics.BUDGET_LIMIT,
                    metrics.BUDGET_SPEND,
                    metrics.BUDGET_BYOK_SPEND,
                    metrics.BUDGET_BYOK_INCLUDED,
                    metrics.BUDGET_ALERT_THRESHOLD,
                )
            ),
            unit=USD,
            columns=(
                ("Value #A", "Limit"),
                ("Value #B", "Spend"),
                ("Value #C", "BYOK spend"),
                ("Value #D", "BYOK counted"),
                ("Value #E", "Alert at"),
                ("vercel_team", "Team"),
                ("scope_type", "Scope type"),
                ("scope", "Scope"),
                ("name", "Budget"),
                ("refresh_period", "Period"),
                ("budget_source", "Source"),
            ),
            units=(("BYOK counted", "bool_yes_no"), ("Alert at", PERCENT)),
            sort="Spend",
        ),
        TimeSeries(
            title="Spend per hour (Custom Reporting)",
            description="Spend in the last complete UTC hour, from reports with window "
            "last_hour (a query with date_part=hour): an hourly spend curve for teams whose "
            "applications send no generation IDs, including surcharges. Summed over a report's "
            "groups (a tag report counts a request once per tag). Reports lag a few minutes, so "
            "the latest hour can still grow at the report's next query.",
            targets=(Target(last_hour(), "{{vercel_team}} {{report}}"),),
            unit=USD,
        ),
        Stat(
            title="Custom Reporting plan",
            description="Whether Custom Reporting answers for the team. On a Hobby or Pro "
            "trial plan it answers 403: the reports wait, and the exporter asks again once an "
            "hour (one billed query) and resumes them by itself after an upgrade.",
            targets=(
                Target(
                    f"max by (vercel_team) ({sel(metrics.REPORT_PLAN_REQUIRED)})",
                    "{{vercel_team}}",
                ),
            ),
            unit=SHORT,
            thresholds=Thresholds(GREEN, ((ORANGE, 1),)),
            mappings=((0, "available", GREEN), (1, "Custom Reporting needs a paid plan", ORANGE)),
            graph=False,
            no_value="no reports configured",
            width=6,
            height=8,
        ),
        Stat(
            title="Budget entries left out",
            description="Entries of the last budgets list the exporter could not read (a "
            "missing or invalid limit, spend, scope or flag), per team: 0 while every entry "
            "reads. The other budgets are published; the exporter's log names the field once "
            "per reason.",
            targets=(
                Target(
                    "sum by (vercel_team) (max by (vercel_team, reason) "
                    f"({sel(metrics.BUDGET_ENTRIES_SKIPPED)}))",
                    "{{vercel_team}}",
                ),
            ),
            unit=SHORT,
            thresholds=Thresholds(GREEN, ((ORANGE, 1),)),
            graph=False,
            width=6,
            height=8,
        ),
    ),
)
