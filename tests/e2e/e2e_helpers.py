"""Helpers for the end-to-end tests (a uniquely named module: test directories are not packages):
manifests, a small client for the custom objects, and polling with useful failure messages."""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).parents[2]
G, V = "azureml.dev", "v1alpha1"
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
PHI = "azureml://registries/azureml/models/Phi-4-mini-instruct"
MISTRAL = "azureml://registries/azureml-mistral/models/Mistral-large-2407"
SUB = "00000000-0000-0000-0000-000000000000"
# The operators of these tests check for drift every few seconds, so a test can watch several checks.
DRIFT_INTERVAL = 3.0
WS_ID = f"/subscriptions/{SUB}/resourceGroups/rg-sim/providers/Microsoft.MachineLearningServices/workspaces/ws-sim"
PLURALS = {
    "Workspace": "workspaces",
    "ModelSubscription": "modelsubscriptions",
    "ServerlessEndpoint": "serverlessendpoints",
    "DataAsset": "dataassets",
    "FineTuneJob": "finetunejobs",
    "OnlineEndpoint": "onlineendpoints",
    "OnlineDeployment": "onlinedeployments",
}
T = TypeVar("T")


def manifest(
    kind: str, name: str, spec: dict[str, Any], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": f"{G}/{V}", "kind": kind, "metadata": meta, "spec": spec}


def example(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "examples" / path).read_text())
    return loaded


def ready(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The Ready condition ({} if none yet)."""
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return {}


class Cluster:
    """The custom objects, Secrets and Events of one namespace in the Kubernetes stand-in."""

    def __init__(self, api_client: client.ApiClient, namespace: str, log: Callable[[], str]) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.log = log

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            G, V, self.namespace, PLURALS[body["kind"]], body
        )
        return created

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                G, V, self.namespace, PLURALS[kind], name
            )
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return obj

    def patch(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            G, V, self.namespace, PLURALS[kind], name, body
        )
        return patched

    def delete(self, kind: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(G, V, self.namespace, PLURALS[kind], name)

    def secret(self, name: str) -> dict[str, str] | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def secret_bytes(self, name: str) -> dict[str, bytes] | None:
        """A Secret's data as the bytes it holds, text or not."""
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}

    def events(self, name: str | None = None, kind: str | None = None) -> list[dict[str, str]]:
        """Events (of the object `name`, of `kind`), oldest first (by eventTime: microseconds)."""
        items = self.core.list_namespaced_event(self.namespace).items
        ordered = sorted(items, key=lambda e: str(e.event_time or e.first_timestamp or ""))
        return [
            {"type": e.type, "reason": e.reason, "message": e.message, "name": e.involved_object.name}
            for e in ordered
            if (name is None or e.involved_object.name == name)
            and (kind is None or e.involved_object.kind == kind)
        ]

    def wait_event(
        self, name: str, reason: str, type_: str | None = None, kind: str | None = None, timeout: float = 10.0
    ) -> list[dict[str, str]]:
        """Events of `reason` for `name`, once there are some: the operator posts them just after the
        status write they tell of, so a test that saw the status may be a moment early."""

        def probe() -> list[dict[str, str]]:
            return [
                e
                for e in self.events(name, kind)
                if e["reason"] == reason and (type_ is None or e["type"] == type_)
            ]

        return self.wait(f"a {reason} Event for {name}", probe, timeout, lambda: self.events(name, kind))

    def wait(
        self,
        what: str,
        probe: Callable[[], T | None],
        timeout: float = 30.0,
        state: Callable[[], Any] | None = None,
    ) -> T:
        """Poll `probe` until it returns something truthy; fail with the operator's log otherwise
        (and with `state()` as it is at the end, when given)."""
        deadline = time.monotonic() + timeout
        last: T | None = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.1)
        now = f"; now: {state()!r}" if state is not None else ""
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what}; last: {last!r}{now}\n"
            f"--- operator log:\n{self.log()[-6000:]}"
        )

    def wait_ready(self, kind: str, name: str, timeout: float = 30.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if ready(obj).get("status") == "True" else None

        return self.wait(f"{kind} {name} to be Ready", probe, timeout, lambda: ready(self.get(kind, name)))

    def wait_reason(self, kind: str, name: str, reason: str, timeout: float = 30.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            return obj if ready(obj).get("reason") == reason else None

        return self.wait(
            f"{kind} {name} to report {reason}", probe, timeout, lambda: ready(self.get(kind, name))
        )

    def wait_gone(self, kind: str, name: str, timeout: float = 30.0) -> None:
        self.wait(f"{kind} {name} to be gone", lambda: self.get(kind, name) is None, timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def metrics_text(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def chat(uri: str, key: str) -> requests.Response:
    """One chat completion against a serverless endpoint, with its key (the simulator's CA is trusted
    through REQUESTS_CA_BUNDLE)."""
    return requests.post(
        f"{uri}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Say hello"}], "max_tokens": 16},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def writes(stats: dict[str, Any], resource_type: str) -> int:
    """PUT and DELETE requests the simulator saw for one resource type (POSTs like listKeys excluded)."""
    return sum(
        n for k, n in stats["requests"].items() if k in (f"PUT {resource_type}", f"DELETE {resource_type}")
    )


def arm(sim: Any, method: str, path: str, body: Any = None, api_version: str = "2024-01-01-preview") -> Any:
    """A raw ARM call to the simulator, as someone acting outside Kubernetes (portal, CLI) would."""
    resp = requests.request(
        method,
        f"{sim.base_url}{WS_ID}/{path}",
        params={"api-version": api_version},
        json=body,
        headers={"Authorization": "Bearer outside-kubernetes"},
        verify=str(sim.ca),
        timeout=30,
    )
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def stats(sim: Any) -> dict[str, Any]:
    """The simulator's request counts and resources (`/_sim/stats`)."""
    result: dict[str, Any] = sim.admin("GET", "stats")
    return result


def count(s: dict[str, Any], key: str) -> int:
    return int(s["requests"].get(key, 0))


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
    keys = set(after["requests"]) | set(before["requests"])
    diff = {k: count(after, k) - count(before, k) for k in keys}
    return {k: n for k, n in diff.items() if n}


class Operators:
    """The operators one test starts in turn; the Cluster's failure messages show all their logs."""

    def __init__(self, start: Callable[..., Any]) -> None:
        self._start = start
        self.started: list[Any] = []

    def start(self) -> Any:
        op = self._start()
        self.started.append(op)
        return op

    def log(self) -> str:
        return "\n".join(f"=== operator #{i + 1} ===\n{op.log_text()}" for i, op in enumerate(self.started))


def forget_namespace(api_client: client.ApiClient, name: str) -> None:
    """Remove what a test left (its operator is stopped by now): the stand-in serves the whole
    session, and a leftover object still claims its Azure resource, which would rightly keep a later
    test's object from adopting the resource of the same name."""
    custom = client.CustomObjectsApi(api_client)
    for plural in PLURALS.values():
        for obj in custom.list_namespaced_custom_object(G, V, name, plural).get("items", []):
            meta = obj["metadata"]
            if meta.get("finalizers"):
                custom.patch_namespaced_custom_object(
                    G, V, name, plural, meta["name"], {"metadata": {"finalizers": None}}
                )
            with contextlib.suppress(ApiException):
                custom.delete_namespaced_custom_object(G, V, name, plural, meta["name"])
