"""The exporter and the simulator as real processes over real sockets: credits end to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from exporter import metrics
from exporter.metrics import Family
from exporter.simulator.faults import FAULT_MODES
from tests.support.processes import wait_until
from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-e2e-credits-0123456789"
StartExporter = Callable[..., ExporterProcess]
UP = {"source": "credits"}  # SOURCE_UP's labels for credits, besides vercel_team
BALANCE, USED = metrics.CREDITS_BALANCE, metrics.CREDITS_USED


def wait_value(
    exp: ExporterProcess,
    family: Family,
    expected: float | None,
    team: str = "default",
    timeout: float = 15,
    **labels: str,
) -> None:
    wait_until(
        lambda: exp.value(family, vercel_team=team, **labels) == expected,
        timeout,
        what=f"{family.name}{{vercel_team={team}, {labels}}} == {expected}",
    )


def wait_up(
    exp: ExporterProcess, expected: float, team: str = "default", timeout: float = 15
) -> None:
    wait_value(exp, metrics.SOURCE_UP, expected, team, timeout, **UP)


def credits_up(exp: ExporterProcess, team: str = "default") -> float | None:
    return exp.value(metrics.SOURCE_UP, vercel_team=team, **UP)


def test_metrics_show_the_simulator_balance_and_spend_exactly(
    simulator: SimulatorProcess, exporter_factory: StartExporter
) -> None:
    exp = exporter_factory(simulator.url, env={"AI_GATEWAY_API_KEY": KEY})
    simulator.control("generations", {"count": 25}, key=KEY)
    truth = simulator.team_truth(KEY)
    assert Decimal(truth["total_used"]) > 0
    wait_value(exp, USED, float(Decimal(truth["total_used"])))
    wait_value(exp, BALANCE, float(Decimal(truth["balance"])))
    assert credits_up(exp) == 1
    assert exp.value(metrics.SOURCE_LAST_SUCCESS, vercel_team="default", **UP) is not None
    assert (
        exp.value(
            metrics.BUILD_INFO,
            version="0.1.0",
            python_version=__import__("platform").python_version(),
        )
        == 1
    )
    # A top-up raises the balance and leaves lifetime spend alone.
    simulator.control("topup", {"amount": "250"}, key=KEY)
    wait_value(exp, BALANCE, float(Decimal(truth["balance"]) + 250))
    assert exp.value(USED, vercel_team="default") == float(Decimal(truth["total_used"]))


# Fault modes after which the credits answer is still usable.
HARMLESS = {"slow", "numbers", "hostile_strings"}  # no label-bound strings in credits


@pytest.mark.parametrize("mode", FAULT_MODES)
def test_every_fault_mode_leaves_the_exporter_serving(
    simulator: SimulatorProcess, exporter_factory: StartExporter, mode: str
) -> None:
    exp = exporter_factory(simulator.url, "--gateway.timeout=1s", env={"AI_GATEWAY_API_KEY": KEY})
    wait_up(exp, 1)
    simulator.fault(mode, endpoints=["credits"], retry_after=1, delay=2 if mode == "hang" else 0.3)
    expected_up = 1 if mode in HARMLESS else 0
    if expected_up == 0:
        wait_up(exp, 0, timeout=20)
    else:
        before = len(simulator.requests())
        wait_until(lambda: len(simulator.requests()) >= before + 2, 10, what="polls under fault")
    assert exp.get("/healthz").status_code == 200
    assert exp.get("/metrics").status_code == 200
    assert credits_up(exp) == expected_up
    assert exp.value(BALANCE, vercel_team="default") is not None
    simulator.fault(None)
    wait_up(exp, 1, timeout=20)
    assert exp.process.alive()


def test_values_disappear_after_max_staleness(
    simulator: SimulatorProcess, exporter_factory: StartExporter
) -> None:
    exp = exporter_factory(
        simulator.url, "--credits.max-staleness=3s", env={"AI_GATEWAY_API_KEY": KEY}
    )
    wait_up(exp, 1)
    simulator.fault("server_error", endpoints=["credits"])
    wait_up(exp, 0)
    wait_value(exp, BALANCE, None, timeout=15)
    assert exp.value(USED, vercel_team="default") is None
    assert credits_up(exp) == 0, "the health stays published when the values go"
    simulator.fault(None)
    wait_until(
        lambda: exp.value(BALANCE, vercel_team="default") is not None,
        15,
        what="values back after recovery",
    )


def test_two_teams_with_different_keys_are_kept_apart(
    simulator_factory: Callable[..., SimulatorProcess], exporter_factory: StartExporter
) -> None:
    sim = simulator_factory(
        "--api-key=prod=key-prod-0123456789", "--api-key=staging=key-staging-0123456789"
    )
    sim.control("credits", {"balance": "1234.5"}, key="key-prod-0123456789")
    sim.control("credits", {"balance": "7.25"}, key="key-staging-0123456789")
    config = {
        "teams": [
            {"name": "prod", "api_key_env": "PROD_KEY"},
            {"name": "staging", "api_key_env": "STAGING_KEY"},
            {"name": "revoked", "api_key_env": "REVOKED_KEY"},
        ]
    }
    exp = exporter_factory(
        sim.url,
        config=config,
        env={
            "PROD_KEY": "key-prod-0123456789",
            "STAGING_KEY": "key-staging-0123456789",
            "REVOKED_KEY": "key-revoked-0123456789",
        },
    )
    wait_value(exp, BALANCE, 1234.5, team="prod")
    wait_value(exp, BALANCE, 7.25, team="staging")
    assert credits_up(exp, "revoked") == 0
    assert exp.value(BALANCE, vercel_team="revoked") is None
    assert (
        exp.value(metrics.API_REQUESTS, vercel_team="revoked", api_endpoint="credits", code="401")
        is not None
    )
    time.sleep(2.5)  # a few more failing polls: still one error line
    rejected = "API key rejected for team revoked (401:"
    assert [rejected in line for line in exp.process.output().splitlines()].count(True) == 1
    page = exp.get("/").text
    assert "prod" in page and "staging" in page and "revoked" in page


def test_readiness_waits_for_a_definitive_first_refresh(
    simulator_factory: Callable[..., SimulatorProcess], exporter_factory: StartExporter
) -> None:
    sim = simulator_factory("--fault=hang")
    exp = exporter_factory(
        sim.url, "--gateway.timeout=1s", wait_ready=False, env={"AI_GATEWAY_API_KEY": KEY}
    )
    exp.process.wait_http(f"{exp.url}/healthz")
    ready = exp.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"ready": False, "waiting_for": ["default"]}
    exp.process.wait_http(f"{exp.url}/readyz", timeout=20)
    assert credits_up(exp) == 0


def test_sigterm_drains_and_exits_zero(
    simulator: SimulatorProcess, exporter_factory: StartExporter
) -> None:
    exp = exporter_factory(simulator.url, env={"AI_GATEWAY_API_KEY": KEY})
    started = time.monotonic()
    assert exp.stop() == 0
    assert time.monotonic() - started < 8


def test_a_scrape_never_calls_upstream(
    simulator: SimulatorProcess, exporter_factory: StartExporter
) -> None:
    exp = exporter_factory(simulator.url, "--credits.interval=1m", env={"AI_GATEWAY_API_KEY": KEY})
    before = len(simulator.requests())
    for _ in range(30):
        exp.get("/metrics")
        exp.get("/")
    assert len(simulator.requests()) == before


def test_the_documented_base_url_works_and_one_that_leads_nowhere_is_said_once(
    simulator_factory: Callable[..., SimulatorProcess], exporter_factory: StartExporter
) -> None:
    """Vercel documents https://ai-gateway.vercel.sh/v1; a URL answering a web page instead of
    the API is named in /readyz and said once, and lookups wait rather than spend retries."""
    sim = simulator_factory("--fault=not_found_html")
    exp = exporter_factory(
        f"{sim.url}/v1", "--lookup.initial-delay=0s", wait_ready=False,
        env={"AI_GATEWAY_API_KEY": KEY},
    )  # fmt: skip
    exp.process.wait_http(f"{exp.url}/healthz")
    wait_until(lambda: "misconfigured" in exp.get("/readyz").json(), 15, what="the reason")
    (reason,) = exp.get("/readyz").json()["misconfigured"].values()
    assert reason.startswith(f"gateway.url {sim.url} does not lead to the API")
    gen_id = sim.control("generations", {"count": 1, "ready_after": 0}, key=KEY)["ids"][0]
    sent = httpx.post(f"{exp.url}/generations", json={"ids": [gen_id.lower()]}, timeout=10)
    assert sent.status_code == 202 and sent.json()["accepted"] == 1
    time.sleep(3)  # a few credits polls, and no lookup against a URL that leads nowhere
    assert [r for r in sim.requests() if r["endpoint"] == "generation"] == []
    said = [line for line in exp.process.output().splitlines() if "does not lead" in line]
    assert len(said) == 1, said
    sim.fault(None)
    wait_until(lambda: "misconfigured" not in exp.get("/readyz").json(), 20, what="fixed")
    assert {r["path"] for r in sim.requests() if r["status"] == 200} >= {"/v1/credits"}
    wait_up(exp, 1)
    found = {"vercel_team": "default", "outcome": "found"}
    wait_until(lambda: exp.value(metrics.GENERATION_LOOKUPS, **found) == 1, 30, what="found")
    asked = [r["query"] for r in sim.requests() if r["endpoint"] == "generation"]
    assert asked == [f"id={gen_id}"], "one lookup, of the ID in its canonical upper case"
