"""Credits: balance, spend, burn rate and time left per team, from GET /v1/credits."""

from __future__ import annotations

from exporter import metrics
from grafana.dashboards.panels import (
    BLUE,
    GREEN,
    ORANGE,
    PURPLE,
    RED,
    SECONDS,
    USD,
    Legend,
    Row,
    Stat,
    Target,
    Thresholds,
    TimeSeries,
    fixed,
)
from grafana.dashboards.queries import BURN_1D, BURN_1H, RUNWAY, SPEND_1D, SPEND_1H, sel

BALANCE = sel(metrics.CREDITS_BALANCE)
USED = sel(metrics.CREDITS_USED)
TEAM = "{{vercel_team}}"


def per_team(expr: str) -> str:
    """Mirrored from the gateway, so the same on every replica: the max, per team."""
    return f"max by (vercel_team) ({expr})"


ROW = Row(
    "Credits",
    (
        Stat(
            title="Balance",
            description="Remaining AI Gateway credits per team (GET /v1/credits), at most one "
            "poll interval old. Red under 10 USD, orange under 50 USD: the default thresholds of "
            "VercelAIGatewayCreditsCritical and VercelAIGatewayCreditsLow (teams may set their "
            "own). Empty when the exporter's data is older than its max staleness.",
            targets=(Target(per_team(BALANCE), TEAM),),
            unit=USD,
            thresholds=Thresholds(RED, ((ORANGE, 10), (GREEN, 50))),
            background=True,
        ),
        Stat(
            title="Lifetime spend",
            description="Total credits the team has ever spent on the AI Gateway (total_used of "
            "GET /v1/credits). Only grows with spend; a top-up does not change it.",
            targets=(Target(per_team(USED), TEAM),),
            unit=USD,
            thresholds=fixed(BLUE),
        ),
        Stat(
            title="Recent spend",
            description="What the team spent in the last hour and in the last 24 hours: growth "
            "of the lifetime spend, whatever top-ups happened meanwhile. The last hour's figure "
            "is the one VercelAIGatewaySpendSpike compares with the usual hourly spend.",
            targets=(
                Target(per_team(sel(SPEND_1H)), f"{TEAM} last hour"),
                Target(per_team(sel(SPEND_1D)), f"{TEAM} last 24 h"),
            ),
            unit=USD,
            thresholds=fixed(BLUE),
        ),
        Stat(
            title="Burn rate per hour",
            description="Average spend per hour over the last hour, from the slope of the "
            "lifetime spend (so a top-up never reads as negative spend).",
            targets=(Target(f"{per_team(sel(BURN_1H))} * 3600", TEAM),),
            unit=USD,
            thresholds=fixed(PURPLE),
        ),
        Stat(
            title="Time left at the current burn rate",
            description="Balance divided by the average spend rate of the last 6 hours: the "
            "runway VercelAIGatewayCreditsRunningOut reads. Red under 1 day (the alert's default "
            "horizon), orange under 7 days. Empty when the team spent nothing in 6 hours.",
            targets=(Target(per_team(sel(RUNWAY)), TEAM),),
            unit=SECONDS,
            thresholds=Thresholds(RED, ((ORANGE, 86400), (GREEN, 604800))),
            background=True,
            no_value="No recent spend",
        ),
        Stat(
            title="Top-ups in the last 24 h",
            description="Credits added in the last 24 hours: growth of balance + lifetime spend "
            "(the total ever bought), which only moves when credits are bought.",
            targets=(Target(per_team(f"delta({BALANCE}[1d]) + {sel(SPEND_1D)}"), TEAM),),
            unit=USD,
            thresholds=fixed(GREEN),
            decimals=2,
        ),
        TimeSeries(
            title="Balance and spend over time",
            description="Balance, lifetime spend and their sum (credits bought) per team. Spend "
            "makes the balance fall while the lifetime spend rises; a top-up is a step up of the "
            "balance and of credits bought, with no change in lifetime spend.",
            targets=(
                Target(per_team(BALANCE), f"{TEAM} balance"),
                Target(per_team(USED), f"{TEAM} lifetime spend"),
                Target(
                    per_team(f"{BALANCE} + {USED}"), f"{TEAM} bought (balance + lifetime spend)"
                ),
            ),
            unit=USD,
            height=9,
            legend=Legend(("lastNotNull",), below=True),
        ),
        TimeSeries(
            title="Burn rate",
            description="Spend per hour, from the slope of the lifetime spend over the "
            "preceding hour (never negative on a top-up), and its average over the last 24 "
            "hours. VercelAIGatewaySpendSpike fires when an hour's spend passes 3 times that "
            "average (of the day before the hour).",
            targets=(
                Target(f"{per_team(sel(BURN_1H))} * 3600", f"{TEAM} last hour"),
                Target(f"{per_team(sel(BURN_1D))} * 3600", f"{TEAM} 24 h average"),
            ),
            unit=USD,
            height=9,
            legend=Legend(below=True),
        ),
    ),
)
