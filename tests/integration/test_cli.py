"""The command line as a user meets it: one clear line and exit 1 for a bad start, full --help."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from exporter.config import options
from tests.support.processes import REPO_ROOT


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AI_GATEWAY", "VERCEL_OIDC"))}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--credits.interval=soon"],
            "vercel-ai-gateway-exporter: invalid configuration: credits.interval: 'soon' is not a "
            "duration (use e.g. 30s, 5m, 1h)\n",
        ),
        (
            ["--gateway.url=nope"],
            "vercel-ai-gateway-exporter: invalid configuration: gateway.url: 'nope' is not an "
            "http(s) URL (e.g. https://ai-gateway.vercel.sh)\n",
        ),
        (
            [],
            "vercel-ai-gateway-exporter: no API key: set AI_GATEWAY_API_KEY (or "
            "VERCEL_OIDC_TOKEN), list teams in --config.file, or run with --demo to try the "
            "exporter against its simulator\n",
        ),
    ],
)
def test_cli_exits_nonzero_with_one_line_and_no_traceback(args: list[str], expected: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 1
    assert result.stderr == expected
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_env_values_are_validated_too() -> None:
    result = run_cli(env={"AI_GATEWAY_EXPORTER_LOG_FORMAT": "xml", "AI_GATEWAY_API_KEY": "k" * 20})
    assert result.returncode == 1
    assert result.stderr == (
        "vercel-ai-gateway-exporter: invalid configuration: log.format: "
        "Input should be 'logfmt' or 'json'\n"
    )


def test_cli_busy_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run_cli(
            f"--web.listen-address=127.0.0.1:{port}", env={"AI_GATEWAY_API_KEY": "k" * 20}
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"vercel-ai-gateway-exporter: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_help_documents_every_option() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in options():
        assert option.flag in result.stdout and option.env in result.stdout.replace("\n", "")
