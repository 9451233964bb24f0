"""Raw ARM and data-plane helpers for the online endpoint contract tests.

The SDK drives what a test is about; these helpers set up the rest quickly (a raw PUT plus a clock
jump costs milliseconds, an SDK long-running operation about a second) and send bodies the SDK never
sends (invalid names, operations held in flight without a dangling poller thread).
"""

from __future__ import annotations

from typing import Any

import requests

from azureml_standins.simulator.config import DEFAULT_WORKSPACE
from azureml_standins.simulator.process import SimulatorProcess

MODEL = "azureml://registries/azureml/models/Phi-4-mini-instruct/versions/1"
INSTANCE_TYPE = "Standard_DS3_v2"
API_VERSION = "2023-04-01-preview"
WS = (
    f"/subscriptions/{DEFAULT_WORKSPACE.subscription}/resourceGroups/{DEFAULT_WORKSPACE.resource_group}"
    f"/providers/Microsoft.MachineLearningServices/workspaces/{DEFAULT_WORKSPACE.name}"
)
# Longer than any operation takes, even at latency scale 1 (a deployment create: 600 s).
FINISH_SECONDS = 1000


def arm(
    sim: SimulatorProcess, method: str, path: str, body: Any = None, *, ws: str = WS
) -> requests.Response:
    """An ARM request under the workspace `ws`, with any bearer token (the simulator accepts any)."""
    return requests.request(
        method,
        f"{sim.base_url}{ws}/{path}",
        params={"api-version": API_VERSION},
        json=body,
        headers={"Authorization": "Bearer x"},
        verify=str(sim.ca),
        timeout=30,
    )


def endpoint_body(
    auth_mode: str = "Key",
    traffic: dict[str, int] | None = None,
    mirror: dict[str, int] | None = None,
    **props: Any,
) -> dict[str, Any]:
    return {
        "location": DEFAULT_WORKSPACE.location,
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "authMode": auth_mode,
            "traffic": traffic or {},
            "mirrorTraffic": mirror or {},
            **props,
        },
    }


def deployment_body(
    instance_count: int = 1, instance_type: str = INSTANCE_TYPE, **props: Any
) -> dict[str, Any]:
    return {
        "location": DEFAULT_WORKSPACE.location,
        "sku": {"name": "Default", "capacity": instance_count},
        "properties": {
            "endpointComputeType": "Managed",
            "instanceType": instance_type,
            "model": MODEL,
            **props,
        },
    }


def put_endpoint(sim: SimulatorProcess, name: str, **kwargs: Any) -> dict[str, Any]:
    r = arm(sim, "PUT", f"onlineEndpoints/{name}", endpoint_body(**kwargs))
    assert r.status_code in (200, 201), r.text
    return r.json()


def put_deployment(sim: SimulatorProcess, endpoint: str, name: str, **kwargs: Any) -> dict[str, Any]:
    r = arm(sim, "PUT", f"onlineEndpoints/{endpoint}/deployments/{name}", deployment_body(**kwargs))
    assert r.status_code in (200, 201), r.text
    return r.json()


def finish(sim: SimulatorProcess) -> None:
    """Jump the simulator's clock so that every operation in flight has finished."""
    sim.admin("POST", "clock", {"advanceSeconds": FINISH_SECONDS})


def ready_endpoint(
    sim: SimulatorProcess,
    name: str,
    deployments: tuple[str, ...] = (),
    *,
    auth_mode: str = "Key",
    traffic: dict[str, int] | None = None,
    mirror: dict[str, int] | None = None,
) -> None:
    """An endpoint with Succeeded deployments and, once they exist, the given traffic."""
    put_endpoint(sim, name, auth_mode=auth_mode)
    finish(sim)
    for dep in deployments:
        put_deployment(sim, name, dep)
    finish(sim)
    if traffic or mirror:
        put_endpoint(sim, name, auth_mode=auth_mode, traffic=traffic, mirror=mirror)
        finish(sim)


def keys(sim: SimulatorProcess, endpoint: str) -> dict[str, str]:
    r = arm(sim, "POST", f"onlineEndpoints/{endpoint}/listKeys")
    assert r.status_code == 200, r.text
    return r.json()


def requests_sent(sim: SimulatorProcess, label: str) -> int:
    """How many ARM requests `label` (e.g. "PUT onlineEndpoints") the simulator has received."""
    return int(sim.admin("GET", "stats")["requests"].get(label, 0))


def routed(sim: SimulatorProcess) -> dict[str, dict[str, int]]:
    """Per `endpoint/deployment`: scoring requests routed to it and copies mirrored to it."""
    return sim.admin("GET", "stats")["deployments"]


def score(
    url: str, sim: SimulatorProcess, key: str | None, body: Any = None, **headers: str
) -> requests.Response:
    h = {k.replace("_", "-"): v for k, v in headers.items()}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    return requests.post(
        url, json={"data": [1]} if body is None else body, headers=h, verify=str(sim.ca), timeout=30
    )


def scoring_uri(sim: SimulatorProcess, endpoint: str) -> str:
    return f"{sim.base_url}/online/{DEFAULT_WORKSPACE.location}/{endpoint}/score"
