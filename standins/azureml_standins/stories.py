"""How an examples/ directory tells a story in steps, read alike by `make demo` and the end-to-end
tests: the manifests outside any `steps/` folder are the start, applied at once; each file under a
`steps/` folder is the next state, in file-name order, applied once the previous one converged, or
deleted (`kubectl delete -f`) when its name says `-delete-`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from azureml_operator.api import KINDS

KNOWN_KINDS = frozenset(info.kind for info in KINDS)
STEPS = "steps"


@dataclass(frozen=True)
class Step:
    path: Path
    docs: tuple[dict[str, Any], ...]

    @property
    def title(self) -> str:
        return self.path.stem

    @property
    def deletes(self) -> bool:
        return "-delete-" in f"-{self.path.stem}-"


def load(path: Path) -> list[dict[str, Any]]:
    """The azureml.dev objects a file holds (other documents, and empty ones, are skipped)."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") in KNOWN_KINDS]


def starting_manifests(directory: Path) -> list[dict[str, Any]]:
    """Every object under `directory` outside a steps/ folder, in path order."""
    docs: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*.yaml")):
        if STEPS not in path.relative_to(directory).parts[:-1]:
            docs += load(path)
    return docs


def steps(directory: Path) -> list[Step]:
    """Each steps/ folder's files, one story after another, in path order."""
    found = (p for p in sorted(directory.rglob("*.yaml")) if STEPS in p.relative_to(directory).parts[:-1])
    return [Step(path, tuple(load(path))) for path in found]


def ready_condition(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def converged(obj: Mapping[str, Any] | None) -> bool:
    """Ready for the spec as it is now: a Ready left over from the previous generation does not count
    (the same test Argo CD's health check makes)."""
    if obj is None or ready_condition(obj).get("status") != "True":
        return False
    return bool((obj.get("status") or {}).get("observedGeneration") == obj["metadata"].get("generation"))


def shares_agree(endpoints: list[Mapping[str, Any]], deployments: list[Mapping[str, Any]]) -> bool:
    """Each deployment reports the live and mirror shares its endpoint reports in effect in Azure
    (a deployment's status follows its endpoint's by one pass of its own)."""
    maps = {e["metadata"]["name"]: e.get("status") or {} for e in endpoints}
    for d in deployments:
        endpoint = maps.get(d["spec"]["endpointRef"]["name"], {})
        name = (d["spec"].get("deploymentName") or d["metadata"]["name"]).lower()
        status = d.get("status") or {}
        for field in ("traffic", "mirrorTraffic"):
            if status.get(field, 0) != (endpoint.get(field) or {}).get(name, 0):
                return False
    return True
