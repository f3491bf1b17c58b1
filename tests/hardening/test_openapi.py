"""The exporter's own OpenAPI document, and schemathesis fuzzing the live exporter with it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.stack import ExporterProcess, SimulatorProcess

KEY = "sk-openapi-0123456789"


def run_schemathesis(
    exp: ExporterProcess, workdir: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).parent / "st"
    assert st.exists(), "schemathesis is part of the test extra"
    return subprocess.run(
        [
            str(st),
            "run",
            f"{exp.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=workdir,  # its report folder goes there, not into the repository
    )


def test_schemathesis_finds_no_failure_with_one_team(
    tmp_path: Path,
    simulator: SimulatorProcess,
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    exp = exporter_factory(simulator.url, "--ingest.max-ids=50", env={"AI_GATEWAY_API_KEY": KEY})
    before = len(simulator.requests())
    result = run_schemathesis(exp, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    assert "failure" not in result.stdout.split("SUMMARY")[-1].lower().replace("0 failures", "")
    assert exp.process.alive()
    polls = [r for r in simulator.requests()[before:] if r["endpoint"] != "credits"]
    assert polls == [], "nothing a client sends makes the exporter call upstream on its own"


def test_schemathesis_with_several_teams(
    tmp_path: Path,
    simulator: SimulatorProcess,
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    config = {"teams": [{"name": "prod", "api_key_env": "K"}, {"name": "dev", "api_key_env": "K"}]}
    exp = exporter_factory(simulator.url, config=config, env={"K": KEY})
    document = httpx.get(f"{exp.url}/openapi.json", timeout=10).json()
    team = document["paths"]["/generations"]["post"]["parameters"][0]
    assert team["schema"]["enum"] == ["prod", "dev"]
    # With several teams a body must name its team in the body or the query; OpenAPI cannot say
    # "one of the two", so a schema-valid text body without ?team= is rightly refused (400).
    result = run_schemathesis(exp, tmp_path, "--exclude-checks", "positive_data_acceptance")
    assert result.returncode == 0, result.stdout[-6000:]


def test_schemathesis_with_a_trace_drain(
    tmp_path: Path,
    simulator: SimulatorProcess,
    exporter_factory: Callable[..., ExporterProcess],
) -> None:
    """With a drain secret the signature header is read: a malformed one is a 403, and every
    answer on /v1/traces carries the verification code."""
    secret, code = tmp_path / "drain.secret", tmp_path / "verify.code"
    secret.write_text("drain-secret-for-schemathesis")
    code.write_text("verify-code")
    exp = exporter_factory(
        simulator.url,
        f"--drain.secret-file={secret}",
        f"--drain.verify-code-file={code}",
        env={"AI_GATEWAY_API_KEY": KEY},
    )
    document = httpx.get(f"{exp.url}/openapi.json", timeout=10).json()
    traces = document["paths"]["/v1/traces"]
    assert "403" in traces["post"]["responses"]
    assert httpx.get(f"{exp.url}/v1/traces", timeout=10).headers["x-vercel-verify"] == "verify-code"
    result = run_schemathesis(exp, tmp_path)
    assert result.returncode == 0, result.stdout[-6000:]
    assert exp.process.alive()
