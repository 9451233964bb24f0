"""What Azure would say to the writes a pass made: each write the fakes recorded becomes the ARM
request the real Azure module builds from the same value (its own `to_arm` functions), answered by
an in-process simulator. "Malformed" is a 400 that no state of the workspace could have avoided: the
simulator's refusals that depend on what exists (a data asset not registered, a model not in the
region, a quota) are listed below and allowed; every other 400 is a request Azure rejects as
malformed, which the CRD should have refused or the operator should never have built."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runtime_fakes import Call

from azureml_operator.azure import data, jobs, online, serverless
from azureml_operator.azure.client import WorkspaceTarget
from azureml_standins.simulator.config import SimulatorConfig, ThrottleConfig, WorkspaceSeed
from azureml_standins.simulator.core import Simulator
from azureml_standins.simulator.messages import Reply, Request

LOCATION = "eastus2"  # what FakeConnection.location() answers
MARKETPLACE_API = "2024-01-01-preview"  # the SDK's for marketplace subscriptions

# Refusals that depend on the workspace's state or the catalog, not on the request's form.
STATEFUL = re.compile(
    "|".join(
        (
            r"was not found",
            r"not available for serverless deployment in region",
            r"needs? an? (active )?(Azure )?Marketplace subscription",
            r"subscription",  # any Marketplace-subscription precondition
            r"already has",
            r"has reached its limit",
            r"does not support fine-tuning",
            r"is not supported for model",
            r"is not an Azure OpenAI model",
            r"is offered by Microsoft",
            r"Traffic can only be routed to existing deployments",
            r"cannot be changed",
            r"failed to provision",
        )
    )
)


@dataclass(frozen=True)
class Refusal:
    call: Call
    method: str
    path: str
    body: Any
    reply: Reply

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.reply.status} {self.reply.body}\nbody: {self.body}"


def _request(target: WorkspaceTarget, call: Call) -> tuple[str, str, str, Any] | None:
    """(method, path, api-version, body) of a write, as azureml_operator.azure would send it."""
    who, method, args = call.who, call.method, call.args
    if who == "serverlessEndpoints" and method == "begin_put":
        name, desired = args
        path = target.child_id(serverless.COLLECTION, name)
        return "PUT", path, serverless.API_VERSION, serverless.to_arm(desired, LOCATION)
    if who == "marketplaceSubscriptions" and method == "begin_create":
        name, model_id = args
        path = target.child_id("marketplaceSubscriptions", name)
        return "PUT", path, MARKETPLACE_API, {"properties": {"modelId": model_id}}
    if who == "jobs" and method == "begin_create":
        name, desired = args
        return (
            "PUT",
            target.child_id(jobs.COLLECTION, name),
            jobs.API_VERSION,
            jobs.to_arm(desired, target.arm_id),
        )
    if who == "onlineEndpoints" and method == "begin_put":
        name, desired = args
        path = target.child_id(online.COLLECTION, name)
        return "PUT", path, online.API_VERSION, online.endpoint_to_arm(desired, LOCATION)
    if who == "onlineDeployments" and method == "begin_put":
        endpoint, name, desired = args
        body = online.deployment_to_arm(online.resolve_refs(desired, target), LOCATION)
        path = f"{target.child_id(online.COLLECTION, endpoint)}/{online.DEPLOYMENTS}/{name}"
        return "PUT", path, online.DEPLOYMENT_API_VERSION, body
    if who in ("serverlessEndpoints", "onlineEndpoints") and method == "regenerate_keys":
        name, key_type = args
        module: Any = serverless if who == "serverlessEndpoints" else online
        path = f"{target.child_id(module.COLLECTION, name)}/regenerateKeys"
        return "POST", path, module.API_VERSION, {"keyType": key_type}
    if who == "data" and method == "begin_put":
        name, desired, archived = args
        return (
            "PUT",
            target.child_id(data.COLLECTION, name),
            data.API_VERSION,
            data.to_arm(desired, archived=archived),
        )
    return None


def _seed(target: WorkspaceTarget) -> WorkspaceSeed:
    return WorkspaceSeed(target.subscription_id, target.resource_group, target.workspace_name, LOCATION)


def malformed(writes: Iterable[tuple[WorkspaceTarget, Call]]) -> list[Refusal]:
    """The writes a fresh simulator refuses for their form alone."""
    writes = list(writes)
    targets = tuple(dict.fromkeys(t for t, _ in writes))
    if not targets:
        return []
    sim = Simulator(
        SimulatorConfig(workspaces=tuple(_seed(t) for t in targets), throttle=ThrottleConfig(enabled=False))
    )
    out = []
    for target, call in writes:
        request = _request(target, call)
        if request is None:
            continue
        method, path, api_version, body = request
        if call.who == "onlineDeployments":
            _ensure_endpoint(sim, path.rsplit(f"/{online.DEPLOYMENTS}/", 1)[0])
        reply = _send(sim, method, path, api_version, body)
        if reply.status == 400 and not STATEFUL.search(
            str((reply.body or {}).get("error", {}).get("message"))
        ):
            out.append(Refusal(call, method, path, body, reply))
    return out


def _send(sim: Simulator, method: str, path: str, api_version: str, body: Any) -> Reply:
    req = Request(
        method, path, {"api-version": api_version}, {"Authorization": "Bearer t"}, "https://127.0.0.1:9", body
    )
    admitted = sim.admit(req)
    return admitted if isinstance(admitted, Reply) else sim.dispatch(req, admitted)


def _ensure_endpoint(sim: Simulator, endpoint_path: str) -> None:
    """A deployment is checked under an existing, provisioned endpoint: its parent is not in question."""
    if _send(sim, "GET", endpoint_path, online.API_VERSION, None).status == 200:
        return
    body = {"location": LOCATION, "identity": {"type": "SystemAssigned"}, "properties": {"authMode": "Key"}}
    _send(sim, "PUT", endpoint_path, online.API_VERSION, body)
    sim.advance(24 * 3600)
