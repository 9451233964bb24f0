"""Fixtures for the chart's tests: one Kubernetes stand-in per test module, brought back to the
objects it started with after each test (the chart's CRDs and ClusterRoles are cluster-scoped, and a
second release may not take over the first one's), with a fresh `BuiltinsProxy` in front of it per
test and Helm (helm-sdkpy) pointed at the proxy.

Starting a stand-in costs about 2 s and these tests are many; what a test leaves behind is deleted
through the API instead, and should anything survive, the next test gets a new stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from builtins_proxy import BuiltinsProxy
from chart_helpers import Helm
from kubernetes import client

from azureml_standins.kube.auth import ADMIN_TOKEN
from azureml_standins.kube.process import KubeProcess

Resource = tuple[str, str, bool]  # (list path prefix, plural, namespaced)


@dataclass(frozen=True)
class Where:
    prefix: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespace: str | None
    name: str
    finalizers: bool

    @property
    def path(self) -> str:
        inside = f"namespaces/{self.namespace}/" if self.namespace else ""
        return f"{self.prefix}/{inside}{self.plural}/{self.name}"


class Admin:
    """Plain requests to the stand-in with its admin token."""

    def __init__(self, kube: KubeProcess) -> None:
        self.url = kube.url
        self.session = requests.Session()
        self.ca = str(kube.ca)  # per request: requests lets REQUESTS_CA_BUNDLE beat a session's verify
        self.session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"

    def get(self, path: str) -> Any:
        response = self.session.get(f"{self.url}{path}", verify=self.ca, timeout=30)
        response.raise_for_status()
        return response.json()

    def send(self, method: str, path: str, body: Any = None) -> None:
        """PATCH (a merge patch) or DELETE; gone already is fine."""
        headers = {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}
        response = self.session.request(
            method, f"{self.url}{path}", json=body, headers=headers, verify=self.ca, timeout=30
        )
        if response.status_code != 404:
            response.raise_for_status()

    def close(self) -> None:
        self.session.close()


def resources(api: Admin) -> list[Resource]:
    """Every listable resource the stand-in serves, from its discovery."""
    out = []
    groups = [("/api/v1", api.get("/api/v1"))]
    for group in api.get("/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        groups.append((f"/apis/{version}", api.get(f"/apis/{version}")))
    for prefix, listing in groups:
        for r in listing["resources"]:
            if "/" not in r["name"] and "list" in r.get("verbs", []):
                out.append((prefix, r["name"], bool(r["namespaced"])))
    return out


def objects(api: Admin) -> dict[str, Where]:
    """Every object there is, by uid."""
    found = {}
    for prefix, plural, _ in resources(api):
        listing = api.get(f"{prefix}/{plural}")
        for item in listing.get("items", []):
            meta = item["metadata"]
            found[meta["uid"]] = Where(
                prefix, plural, meta.get("namespace"), meta["name"], bool(meta.get("finalizers"))
            )
    return found


def restore(api: Admin, baseline: set[str]) -> bool:
    """Delete every object that is not in `baseline` (finalizers cleared first, as no controller
    runs here to clear them); True if only the baseline is left. Objects in the stand-in's own
    namespaces go first, then namespaces (with what is in them), then the cluster-scoped rest, CRDs
    (with their custom objects) last."""

    extra = [where for uid, where in objects(api).items() if uid not in baseline]
    for where in extra:
        if where.finalizers and where.plural != "namespaces":
            api.send("PATCH", where.path, {"metadata": {"finalizers": None}})
    for where in sorted(extra, key=lambda w: (w.namespace is None, w.plural == "customresourcedefinitions")):
        api.send("DELETE", where.path)
    return set(objects(api)) == baseline


class Cluster:
    """The module's stand-in, and the objects it held when it was new."""

    def __init__(self) -> None:
        self.process: KubeProcess | None = None
        self.baseline: set[str] = set()

    def get(self) -> KubeProcess:
        if self.process is None:
            self.process = KubeProcess().__enter__()
            api = Admin(self.process)
            try:
                self.baseline = set(objects(api))
            finally:
                api.close()
        return self.process

    def reset(self) -> None:
        if self.process is None:
            return
        api = Admin(self.process)
        try:
            clean = restore(api, self.baseline)
        except Exception:
            clean = False
        finally:
            api.close()
        if not clean:
            import sys

            print("RESTART", file=sys.stderr)
            self.close()

    def close(self) -> None:
        if self.process is not None:
            self.process.__exit__(None, None, None)
            self.process = None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    shared = Cluster()
    yield shared
    shared.close()


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeProcess]:
    yield cluster.get()
    cluster.reset()


@pytest.fixture
def proxy(kube: KubeProcess, tmp_path: Path) -> Iterator[BuiltinsProxy]:
    with BuiltinsProxy(kube.url, tmp_path, ca=kube.ca) as running:
        yield running


@pytest.fixture
def helm(proxy: BuiltinsProxy) -> Helm:
    return Helm(proxy.kubeconfig)


@pytest.fixture
def stand_in(kube: KubeProcess) -> Iterator[client.ApiClient]:
    """The stand-in itself, not the proxy: what was really applied."""
    api = kube.client()
    yield api
    api.close()
