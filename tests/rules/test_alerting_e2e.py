"""End to end: simulator -> exporter -> Prometheus (the shipped rules) -> Alertmanager -> webhook.

Everything runs for real on 127.0.0.1. The rule file is the shipped one with only its ``for:``
durations shortened (in a temporary copy). Two teams share one simulator: ``prod`` has its own
low threshold (100 USD) published by the exporter, ``dev`` falls back to the default (50 USD).
With 80 and 70 USD, only prod is low: CreditsLow must reach the webhook for prod alone, with its
rendered annotations, and resolve once the simulator tops prod up.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import metrics
from tests.support.alertmanager import Alert, AlertmanagerServer, WebhookReceiver, shorten_for
from tests.support.processes import REPO_ROOT
from tests.support.prometheus import PrometheusServer, static_job
from tests.support.stack import ExporterProcess, SimulatorProcess

RULE_FILE = REPO_ROOT / "grafana" / "rules" / "vercel-ai-gateway.rules.yaml"
JOB = "vercel-ai-gateway-exporter"
PROD_KEY = "e2e-prod-key"
DEV_KEY = "e2e-dev-key"
RUNBOOK = (
    "https://github.com/vercel-ai-gateway-exporter/vercel-ai-gateway-exporter/blob/main/"
    "grafana/RUNBOOK.md#vercelaigatewaycreditslow"
)

pytestmark = pytest.mark.slow


def _is(alert: Alert, status: str, name: str, team: str) -> bool:
    labels = alert.get("labels", {})
    return bool(
        alert.get("status") == status
        and labels.get("alertname") == name
        and labels.get("vercel_team") == team
    )


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    started: list[Any] = []
    webhook = WebhookReceiver()
    try:
        alertmanager = AlertmanagerServer(tmp_path / "alertmanager", webhook.url)
        started.append(alertmanager)
        simulator = SimulatorProcess(tmp_path / "simulator")
        started.append(simulator)
        simulator.control("credits", {"balance": "80.00"}, key=PROD_KEY)
        simulator.control("credits", {"balance": "70.00"}, key=DEV_KEY)
        exporter = ExporterProcess(
            tmp_path / "exporter",
            simulator.url,
            env={"PROD_KEY": PROD_KEY, "DEV_KEY": DEV_KEY},
            config={
                "teams": [
                    {
                        "name": "prod",
                        "api_key_env": "PROD_KEY",
                        "alerts": {"credits_low_usd": 100, "credits_critical_usd": 20},
                    },
                    {"name": "dev", "api_key_env": "DEV_KEY"},
                ]
            },
        )
        started.append(exporter)
        rules = tmp_path / "fast.rules.yaml"
        shorten_for(RULE_FILE, rules, "1s")
        prometheus = PrometheusServer(
            tmp_path / "prometheus",
            [static_job(JOB, f"127.0.0.1:{exporter.port}")],
            rule_files=[rules],
            alertmanager_url=alertmanager.url,
        )
        started.append(prometheus)
        yield {
            "webhook": webhook,
            "simulator": simulator,
            "exporter": exporter,
            "prometheus": prometheus,
        }
    finally:
        for process in reversed(started):
            process.stop()
        webhook.close()


def test_only_for_is_shortened_in_the_copy(tmp_path: Path) -> None:
    shipped = yaml.safe_load(RULE_FILE.read_text())
    fast = shorten_for(RULE_FILE, tmp_path / "fast.rules.yaml", "1s")
    assert yaml.safe_load((tmp_path / "fast.rules.yaml").read_text()) == fast
    for group_a, group_b in zip(shipped["groups"], fast["groups"], strict=True):
        for a, b in zip(group_a["rules"], group_b["rules"], strict=True):
            assert {k: v for k, v in a.items() if k != "for"} == {
                k: v for k, v in b.items() if k != "for"
            }
            assert b.get("for") == ("1s" if "alert" in a else None)


def test_credits_low_reaches_the_webhook_and_resolves_after_a_top_up(
    stack: dict[str, Any],
) -> None:
    webhook: WebhookReceiver = stack["webhook"]
    simulator: SimulatorProcess = stack["simulator"]
    prometheus: PrometheusServer = stack["prometheus"]

    # The per-team threshold really is in Prometheus before we rely on it.
    thresholds = prometheus.wait_for(metrics.ALERT_CREDITS_LOW.name)
    assert [(s["metric"]["vercel_team"], s["value"][1]) for s in thresholds] == [("prod", "100")]

    firing = webhook.wait_for(
        lambda a: _is(a, "firing", "VercelAIGatewayCreditsLow", "prod"),
        timeout=40,
        what="firing VercelAIGatewayCreditsLow for prod",
    )
    assert firing["labels"] == {
        "alertname": "VercelAIGatewayCreditsLow",
        "job": JOB,
        "severity": "warning",
        "vercel_team": "prod",
    }
    assert firing["annotations"] == {
        "summary": "AI Gateway credit balance is low.",
        "description": (
            "Team prod has 80.00 USD of AI Gateway credits left, below its warning threshold. "
            "Top up before requests start failing."
        ),
        "runbook_url": RUNBOOK,
    }

    simulator.control("topup", {"amount": "500"}, key=PROD_KEY)
    resolved = webhook.wait_for(
        lambda a: _is(a, "resolved", "VercelAIGatewayCreditsLow", "prod"),
        timeout=30,
        what="resolved VercelAIGatewayCreditsLow for prod",
    )
    assert resolved["labels"] == firing["labels"]
    assert resolved["endsAt"] >= firing["startsAt"]

    # dev (70 USD, default threshold 50) never fired; nobody was below a critical threshold,
    # nor running out (no traffic, no spend).
    names_teams = {
        (a["labels"].get("alertname"), a["labels"].get("vercel_team"))
        for a in webhook.alerts()
        if a.get("status") == "firing"
    }
    assert ("VercelAIGatewayCreditsLow", "dev") not in names_teams
    assert not {n for n, _ in names_teams} & {
        "VercelAIGatewayCreditsCritical",
        "VercelAIGatewayCreditsRunningOut",
        "VercelAIGatewaySpendSpike",
        "VercelAIGatewayUpstreamFailing",
    }, names_teams
