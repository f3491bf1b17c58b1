"""The dashboard JSON type-checks against Grafana's own schema (npm @grafana/schema, with tsc).

@grafana/schema ships Grafana's generated TypeScript types but no JSON Schema, so the JSON is
written into a .ts file as typed object literals and compiled: tsc then reports unknown keys
(excess property checks), wrong types and values outside an enum. Three levels are checked:

- the whole file as a ``Dashboard``;
- each panel's ``options`` against that panel type's ``Options`` (timeseries, stat, ...);
- each panel's ``fieldConfig.defaults.custom`` against the panel type's ``FieldConfig``.

Grafana's string enums (``ThresholdsMode.Absolute``...) are not assignable from the plain strings
that JSON holds, so the checked types go through ``Loose<T>``, which turns each string enum into
the union of its values and keeps everything else (optional keys, excess checks) as it is.

The npm packages come from the project's own setup (``npm ci --prefix tests/dashboard``, run by
``make test``); when they are missing the test fails and says so, it never skips.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import REPO_ROOT

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
TSC = NODE_MODULES / ".bin" / "tsc"
DASHBOARD = REPO_ROOT / "grafana" / "dashboards" / "vercel-ai-gateway.json"
SCHEMA_VERSION = "13.2.3"

_PANELCFG = "@grafana/schema/dist/esm/raw/composable/{dir}/panelcfg/x/{name}PanelCfg_types.gen"
# Grafana panel type -> (module dir, module name, has a FieldConfig for fieldConfig.defaults.custom)
PANEL_TYPES: dict[str, tuple[str, str, bool]] = {
    "timeseries": ("timeseries", "TimeSeries", True),
    "stat": ("stat", "Stat", False),
    "bargauge": ("bargauge", "BarGauge", False),
    "heatmap": ("heatmap", "Heatmap", True),
    "table": ("table", "Table", True),
    "state-timeline": ("statetimeline", "StateTimeline", True),
}

_PRELUDE = """\
import type {{ Dashboard }} from '@grafana/schema';
{imports}

// JSON holds enum values as plain strings: accept exactly the values of each string enum.
type Loose<T> = T extends string
  ? `${{T}}`
  : T extends ReadonlyArray<infer U>
    ? Array<Loose<U>>
    : T extends object
      ? {{ [K in keyof T]: Loose<T[K]> }}
      : T;

"""


def _ident(panel_type: str) -> str:
    return re.sub(r"\W", "_", panel_type)


def typescript_for(dashboard: dict[str, Any]) -> str:
    """The .ts source that type-checks ``dashboard`` at the three levels."""
    imports = "\n".join(
        f"import type * as {_ident(t)} from '{_PANELCFG.format(dir=d, name=n)}';"
        for t, (d, n, _) in PANEL_TYPES.items()
    )
    out = [_PRELUDE.format(imports=imports)]
    out.append(f"export const dashboard: Loose<Dashboard> = {json.dumps(dashboard, indent=2)};\n")
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            continue
        ptype = panel.get("type")
        if ptype not in PANEL_TYPES:
            raise AssertionError(
                f"panel {panel.get('id')} ({panel.get('title')!r}) has type {ptype!r}, which this "
                f"check does not know: add it to PANEL_TYPES ({sorted(PANEL_TYPES)})"
            )
        ns = _ident(ptype)
        pid = panel["id"]
        out.append(
            f"// panel {pid}: {panel.get('title')}\n"
            f"export const options_{pid}: Loose<{ns}.Options> = "
            f"{json.dumps(panel.get('options', {}), indent=2)};\n"
        )
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if PANEL_TYPES[ptype][2]:
            out.append(
                f"export const custom_{pid}: Loose<{ns}.FieldConfig> = "
                f"{json.dumps(custom or {}, indent=2)};\n"
            )
        elif custom:
            raise AssertionError(
                f"panel {pid} ({ptype}) sets fieldConfig.defaults.custom, which {ptype} has none of"
            )
    return "\n".join(out)


def run_tsc(source: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Compile ``source`` (no output files); node_modules is linked next to it."""
    workdir.mkdir(parents=True, exist_ok=True)
    link = workdir / "node_modules"
    if not link.exists():
        os.symlink(NODE_MODULES, link)
    path = workdir / "dashboard_check.ts"
    path.write_text(source)
    return subprocess.run(
        [
            str(TSC),
            "--noEmit",
            "--strict",
            "--skipLibCheck",
            "--moduleResolution",
            "bundler",
            "--module",
            "esnext",
            "--target",
            "es2022",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=workdir,
    )


@pytest.fixture(scope="module")
def installed() -> None:
    if not TSC.exists():
        pytest.fail(
            f"{TSC} is missing: install the pinned npm packages with "
            "'npm ci --prefix tests/dashboard' (make test does it)"
        )
    version = json.loads((NODE_MODULES / "@grafana" / "schema" / "package.json").read_text())
    assert version["version"] == SCHEMA_VERSION, (
        f"@grafana/schema {version['version']} installed, package.json pins {SCHEMA_VERSION}: "
        "run 'npm ci --prefix tests/dashboard'"
    )


def test_package_json_pins_the_checked_versions() -> None:
    package = json.loads((HERE / "package.json").read_text())
    lock = json.loads((HERE / "package-lock.json").read_text())
    assert package["devDependencies"]["@grafana/schema"] == SCHEMA_VERSION
    assert package["devDependencies"]["typescript"].lstrip("^~").split(".")[0] == "5"
    locked = lock["packages"]
    assert locked["node_modules/@grafana/schema"]["version"] == SCHEMA_VERSION
    assert locked["node_modules/typescript"]["version"].startswith("5.")


@pytest.mark.usefixtures("installed")
def test_dashboard_matches_grafana_schema(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    result = run_tsc(typescript_for(dashboard), tmp_path)
    assert result.returncode == 0, (
        "the dashboard does not match @grafana/schema (line numbers refer to "
        f"{tmp_path / 'dashboard_check.ts'}):\n{result.stdout}{result.stderr}"
    )


@pytest.mark.usefixtures("installed")
def test_the_check_rejects_broken_dashboards(tmp_path: Path) -> None:
    """Each defect is planted in a copy; tsc must name every one of them."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    by_type = {p["type"]: p for p in reversed(panels)}
    by_type["timeseries"]["titel"] = "typo in a panel key"
    by_type["stat"]["options"]["colorMode"] = "rainbow"
    by_type["heatmap"]["options"]["yAxis"]["unitt"] = "s"
    by_type["timeseries"]["fieldConfig"]["defaults"]["custom"]["drawStyle"] = "zigzag"
    by_type["bargauge"]["fieldConfig"]["defaults"]["thresholds"]["mode"] = "relative"
    dashboard["graphTooltip"] = 7
    result = run_tsc(typescript_for(dashboard), tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for needle in ('"titel"', '"rainbow"', '"unitt"', '"zigzag"', '"relative"', "'7'"):
        assert needle in output, f"tsc did not report {needle}:\n{output}"
