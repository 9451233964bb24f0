"""Helpers shared by the tests of the Kubernetes API stand-in (a uniquely named module, since the
test directories are not packages): plain HTTP with watch streams, polling, object builders."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from kubernetes import client

from azureml_standins.kube.auth import ADMIN_TOKEN

ROOT = Path(__file__).parents[2]
CRD_FILES = sorted((ROOT / "crds").glob("*.yaml"))
LLAMA = "azureml://registries/azureml-meta/models/Meta-Llama-3-8B-Instruct"
G, V, SLS = "azureml.dev", "v1alpha1", "serverlessendpoints"


class Http:
    """Plain HTTP(S) against the stand-in: `(status, body, headers)`, never raising on 4xx. As the
    admin unless given another bearer `token` (`None` sends no Authorization header at all);
    `ca` is the stand-in's CA (`KubeProcess.ca`)."""

    def __init__(self, base: str, token: str | None = ADMIN_TOKEN, *, ca: Path | None = None) -> None:
        self.base = base
        self.session = requests.Session()
        # Per request: a session's `verify` loses to $REQUESTS_CA_BUNDLE (the simulator's CA).
        self.verify: str | bool = str(ca) if ca is not None else True
        if token is not None:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        resp = self.session.request(
            method,
            self.base + path,
            data=data,
            params=params,
            headers={"Content-Type": content_type},
            verify=self.verify,
            timeout=10,
        )
        try:
            parsed = resp.json()
        except ValueError:
            parsed = resp.text
        return resp.status_code, parsed, resp.headers

    def watch(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        count: int | None = None,
        until: Callable[[list[dict[str, Any]]], bool] | None = None,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Events of a watch, read until `count` arrived, `until` holds, or the server ends it."""
        params = {"watch": "true", **(params or {})}
        events: list[dict[str, Any]] = []
        with self.session.get(
            self.base + path, params=params, stream=True, verify=self.verify, timeout=timeout
        ) as resp:
            assert resp.status_code == 200, resp.text
            for line in resp.iter_lines():
                if not line:
                    continue
                events.append(json.loads(line))
                if (count is not None and len(events) >= count) or (until is not None and until(events)):
                    break
        return events


def eventually(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll until `check()` is truthy (returned) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except client.ApiException as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def endpoint(name: str = "chat", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "ServerlessEndpoint",
        "metadata": {"name": name},
        "spec": {"modelId": LLAMA, **spec},
    }


def widget_crd(
    group: str = "example.dev",
    plural: str = "widgets",
    kind: str = "Widget",
    *,
    scope: str = "Namespaced",
    status: bool = True,
    short: list[str] | None = None,
) -> dict[str, Any]:
    """A small CRD with a spec and a status."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {
                "plural": plural,
                "singular": plural.rstrip("s"),
                "kind": kind,
                "shortNames": short or [],
                "categories": ["all-widgets"],
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    **({"subresources": {"status": {}}} if status else {}),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "size": {"type": "integer", "default": 1},
                                        "color": {"type": "string"},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "phase": {"type": "string", "enum": ["Pending", "Ready"]},
                                        "observedGeneration": {"type": "integer"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
