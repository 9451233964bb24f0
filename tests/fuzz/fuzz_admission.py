"""Admission as the Kubernetes stand-in does it, in-process: the project's CRDs installed in a
`Store`, and a custom object created with `dryRun` (name, metadata, schema, CEL and defaults) or
for real, then its status written through /status as the operator would write it."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import yaml

from azureml_standins.kube.discovery import ResourceInfo
from azureml_standins.kube.errors import ApiError
from azureml_standins.kube.store import Store

ROOT = Path(__file__).resolve().parents[2]
CRDS: dict[str, dict[str, Any]] = {}
for _path in sorted((ROOT / "crds").glob("*.yaml")):
    _crd = yaml.safe_load(_path.read_text())
    CRDS[_crd["spec"]["names"]["kind"]] = _crd


def spec_schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]


class Cluster:
    """One stand-in store with the project's CRDs and the namespaces the fakes use."""

    def __init__(self, *namespaces: str) -> None:
        self.store = Store()
        crd_info = self.store.registry.get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        ns_info = self.store.registry.get("", "v1", "namespaces")
        assert crd_info is not None and ns_info is not None
        for crd in CRDS.values():
            self.store.create(crd_info, None, copy.deepcopy(crd))
        for ns in namespaces:
            self.store.create(ns_info, None, {"metadata": {"name": ns}})

    def info(self, kind: str) -> ResourceInfo:
        crd = CRDS[kind]
        info = self.store.registry.get(crd["spec"]["group"], "v1alpha1", crd["spec"]["names"]["plural"])
        assert info is not None
        return info

    def admit(self, obj: dict[str, Any], namespace: str) -> tuple[dict[str, Any] | None, ApiError | None]:
        """The object as a real API server would store it (pruned, defaulted), or the refusal."""
        try:
            return self.store.create(
                self.info(obj["kind"]), namespace, copy.deepcopy(obj), dry_run=True
            ), None
        except ApiError as e:
            return None, e

    def write_status(self, obj: dict[str, Any], namespace: str, status: dict[str, Any]) -> ApiError | None:
        """Create the object, then merge-patch its /status as the operator does; the refusal if any."""
        info = self.info(obj["kind"])
        name = obj["metadata"]["name"]
        try:
            self.store.create(info, namespace, copy.deepcopy(obj))
            self.store.patch(
                info,
                namespace,
                name,
                "application/merge-patch+json",
                {"status": status},
                subresource="status",
            )
        except ApiError as e:
            return e
        finally:
            with contextlib.suppress(ApiError):  # nothing adds finalizers here: it goes at once
                self.store.delete(info, namespace, name)
        return None
