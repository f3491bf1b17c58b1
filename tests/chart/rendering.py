"""The Helm chart rendered in process (helm-python-sdk: the Helm SDK, no helm binary) and
parsed into objects the tests can look at."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python
import yaml

from tests.support.processes import REPO_ROOT

CHART_DIR = REPO_ROOT / "helm" / "vercel-ai-gateway-exporter"
SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in CHART_DIR.glob("ci/*.yaml")}
RELEASE = "rel"
NAMESPACE = "monitoring"
FULLNAME = f"{RELEASE}-vercel-ai-gateway-exporter"
KINDS_WITH_POD = ("Deployment", "StatefulSet")

Obj = dict[str, Any]

helm_python.disable_logging()


@functools.cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


def scenario_values(name: str) -> Obj:
    values: Obj = yaml.safe_load(SCENARIOS[name].read_text()) or {}
    return values


def chart_values() -> Obj:
    """The chart's defaults (values.yaml)."""
    values: Obj = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    return values


@dataclass(frozen=True)
class Rendered:
    """One render: every object (hooks included) and NOTES.txt."""

    objects: list[Obj]
    notes: str

    def of_kind(self, kind: str) -> list[Obj]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Obj:
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
        return found[0]

    @property
    def workload(self) -> Obj:
        (workload,) = [o for o in self.objects if o["kind"] in KINDS_WITH_POD]
        return workload

    @property
    def pod_spec(self) -> Obj:
        spec: Obj = self.workload["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> Obj:
        (container,) = [c for c in self.pod_spec["containers"] if c["name"] == "exporter"]
        found: Obj = container
        return found

    @property
    def exporter_config(self) -> Obj:
        """The exporter's YAML configuration, as the ConfigMap holds it."""
        data = self.one("ConfigMap", FULLNAME)["data"]["config.yaml"]
        config: Obj = yaml.safe_load(data)
        return config

    def non_secret_objects(self) -> Iterator[Obj]:
        return (obj for obj in self.objects if obj["kind"] != "Secret")


def render(values: Mapping[str, Any] | None = None) -> Rendered:
    """Render like ``helm install rel CHART -n monitoring`` would (schema checked first)."""
    manifests = chart().render(dict(values or {}), name=RELEASE, namespace=NAMESPACE)
    objects: list[Obj] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects, notes)


@functools.cache
def render_scenario(name: str) -> Rendered:
    """A ci/<name>-values.yaml scenario, rendered once per test session."""
    return render(scenario_values(name))


def secret_files(rendered: Rendered) -> dict[str, tuple[str, str]]:
    """The credential files of the exporter's projected volume: {path: (Secret, key)}."""
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == "secrets"]
    files: dict[str, tuple[str, str]] = {}
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            files[item["path"]] = (source["secret"]["name"], item["key"])
    return files


def mount_path(rendered: Rendered, volume: str) -> Path:
    (mount,) = [m for m in rendered.container["volumeMounts"] if m["name"] == volume]
    return Path(mount["mountPath"])
