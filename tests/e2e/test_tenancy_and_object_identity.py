"""Tenants stay apart, and a pass acts only for the object that exists now: what hostile testing on a
real API server found broken (issue 7's invariants 1, 2, 4 and 8), each with the real operator
watching two namespaces that share one Azure workspace."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import (
    DRIFT_INTERVAL,
    LLAMA,
    PHI,
    SUB,
    WS_ID,
    Cluster,
    arm,
    forget_namespace,
    manifest,
    ready,
    writes,
)
from kubernetes import client

from azureml_standins.kube.process import KubeProcess
from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess

ADOPT = {"azureml.dev/adopt": "true"}
PHI_35 = "azureml://registries/azureml/models/Phi-3.5-mini-instruct"  # one endpoint per model per workspace
KIND = "ServerlessEndpoint"


@pytest.fixture
def tenants(
    api_client: client.ApiClient, kube: KubeProcess, sim: SimulatorProcess
) -> Iterator[tuple[Cluster, Cluster]]:
    """Two namespaces, one operator watching both, one Azure workspace behind them."""
    names = [f"e2e-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    core = client.CoreV1Api(api_client)
    for name in names:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    op = OperatorProcess(
        kubeconfig=kube.kubeconfig,
        arm_endpoint=sim.base_url,
        ca=sim.ca,
        namespaces=names,
        drift_interval=DRIFT_INTERVAL,
    ).start()
    try:
        yield Cluster(api_client, names[0], op.log_text), Cluster(api_client, names[1], op.log_text)
    finally:
        op.close()
        for name in names:
            forget_namespace(api_client, name)


def tags_of(sim: SimulatorProcess, name: str) -> dict[str, str]:
    found: dict[str, str] = arm(sim, "GET", f"serverlessEndpoints/{name}")["tags"]
    return found


def idle_for(passes: int) -> None:
    time.sleep(passes * DRIFT_INTERVAL * 1.1 + 1)


def test_adopting_another_namespaces_endpoint_is_a_conflict(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, b = tenants
    a.apply(manifest(KIND, "phi", {"modelId": PHI}))
    owner = a.wait_ready(KIND, "phi")
    keys = a.secret("phi-keys")

    b.apply(manifest(KIND, "thief", {"modelId": PHI, "endpointName": "phi"}, ADOPT))
    obj = b.wait_reason(KIND, "thief", "Conflict")
    assert a.namespace in ready(obj)["message"] or "not created by this object" in ready(obj)["message"]
    idle_for(2)
    assert b.secret("thief-keys") is None, "another namespace's keys were published"
    assert tags_of(sim, "phi")["azureml.dev-owner-uid"] == owner["metadata"]["uid"]
    assert ready(b.get(KIND, "thief"))["reason"] == "Conflict"

    b.delete(KIND, "thief")
    b.wait_gone(KIND, "thief")
    assert arm(sim, "GET", "serverlessEndpoints/phi")["properties"]["provisioningState"] == "Succeeded"
    assert ready(a.get(KIND, "phi"))["status"] == "True"
    assert a.secret("phi-keys") == keys


def test_adopting_another_namespaces_subscription_is_a_conflict(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, b = tenants
    a.apply(manifest("ModelSubscription", "llama", {"modelId": LLAMA}))
    a.wait_ready("ModelSubscription", "llama")

    b.apply(manifest("ModelSubscription", "mine", {"modelId": LLAMA, "subscriptionName": "llama"}, ADOPT))
    b.wait_reason("ModelSubscription", "mine", "Conflict")
    b.delete("ModelSubscription", "mine")
    b.wait_gone("ModelSubscription", "mine")

    assert sim.admin("GET", "stats")["requests"].get("DELETE marketplaceSubscriptions") is None
    assert ready(a.get("ModelSubscription", "llama"))["status"] == "True"


def test_a_forged_resource_id_in_status_does_not_make_a_strangers_endpoint_ours(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, b = tenants
    a.apply(manifest(KIND, "phi", {"modelId": PHI}))
    owner = a.wait_ready(KIND, "phi")
    b.apply(manifest(KIND, "copy", {"modelId": PHI, "endpointName": "phi"}))
    b.wait_reason(KIND, "copy", "Conflict")
    before = writes(sim.admin("GET", "stats"), "serverlessEndpoints")

    forged = f"{WS_ID}/serverlessEndpoints/phi"
    b.custom.patch_namespaced_custom_object_status(
        "azureml.dev",
        "v1alpha1",
        b.namespace,
        "serverlessendpoints",
        "copy",
        {"status": {"azureResourceId": forged}},
    )
    idle_for(2)
    assert b.secret("copy-keys") is None
    assert tags_of(sim, "phi")["azureml.dev-owner-uid"] == owner["metadata"]["uid"]
    assert writes(sim.admin("GET", "stats"), "serverlessEndpoints") == before

    b.delete(KIND, "copy")
    b.wait_gone(KIND, "copy")
    assert arm(sim, "GET", "serverlessEndpoints/phi")["name"] == "phi"
    assert sim.admin("GET", "stats")["requests"].get("DELETE serverlessEndpoints") is None


def test_an_object_deleted_at_once_is_never_reconciled_again(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, _ = tenants
    dead = set()
    # Deleted after the operator has seen it but (most likely, for one of these) before its
    # finalizer went on: the window in which a per-object timer used to outlive its object.
    for delay in (0.0, 0.01, 0.02, 0.03, 0.05):
        dead.add(a.apply(manifest(KIND, "phi", {"modelId": PHI}))["metadata"]["uid"])
        time.sleep(delay)
        a.delete(KIND, "phi")
        a.wait_gone(KIND, "phi")
    second = a.apply(manifest(KIND, "phi", {"modelId": PHI}, {"azureml.dev/reconcile-policy": "skip"}))
    a.wait_reason(KIND, "phi", "ReconcileSkipped")
    idle_for(3)

    listed: list[dict[str, Any]] = arm(sim, "GET", "serverlessEndpoints")["value"]
    assert not [e for e in listed if (e.get("tags") or {}).get("azureml.dev-owner-uid") in dead], listed
    current = a.get(KIND, "phi")
    assert current is not None and current["metadata"]["uid"] == second["metadata"]["uid"]
    assert ready(current)["reason"] == "ReconcileSkipped"
    reasons = {e["reason"] for e in a.events("phi")}
    assert reasons <= {"ReconcileSkipped", "Creating", "Deleting"}, f"{reasons}\n{a.log()[-5000:]}"


def test_one_failed_read_does_not_flip_a_ready_object(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, _ = tenants
    a.apply(manifest(KIND, "phi", {"modelId": PHI}))
    was = ready(a.wait_ready(KIND, "phi"))
    sim.admin(
        "POST", "faults", {"method": "GET", "resourceType": "serverlessEndpoints", "status": 500, "count": 1}
    )

    def fired() -> bool:
        return bool(sim.admin("GET", "stats")["faultsFired"])

    a.wait("the 500 to be served", fired, timeout=4 * DRIFT_INTERVAL)
    idle_for(2)
    now = ready(a.get(KIND, "phi"))
    assert (now["status"], now["reason"], now["lastTransitionTime"]) == (
        "True",
        "Succeeded",
        was["lastTransitionTime"],
    )
    assert not [e for e in a.events("phi") if e["reason"] == "AzureUnavailable"]


def test_a_persisting_outage_of_a_ready_object_is_reported(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, _ = tenants
    a.apply(manifest(KIND, "phi", {"modelId": PHI}))
    a.wait_ready(KIND, "phi")
    sim.admin("POST", "faults", {"method": "GET", "resourceType": "serverlessEndpoints", "status": 503})
    a.wait_reason(KIND, "phi", "AzureUnavailable", timeout=60)
    sim.admin("DELETE", "faults")
    a.wait_ready(KIND, "phi", timeout=60)


def test_deleting_a_namespace_deletes_what_its_objects_own_in_azure(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, b = tenants
    a.apply(
        manifest(
            "Workspace", "team", {"subscriptionId": SUB, "resourceGroup": "rg-sim", "workspaceName": "ws-sim"}
        )
    )
    a.apply(manifest(KIND, "phi", {"modelId": PHI, "workspaceRef": {"name": "team"}}))
    a.wait_ready(KIND, "phi")
    b.apply(manifest(KIND, "other", {"modelId": PHI_35}))
    b.wait_ready(KIND, "other")

    a.core.delete_namespace(a.namespace)
    # The Workspace is held for the endpoint's finalizer, which needs it to reach Azure.
    held = a.get("Workspace", "team")
    assert held is not None and held["metadata"].get("deletionTimestamp"), held

    def namespace_gone() -> bool:
        return a.namespace not in {n.metadata.name for n in a.core.list_namespace().items}

    a.wait("the namespace to be gone", namespace_gone, timeout=60)
    listed = [e["name"] for e in arm(sim, "GET", "serverlessEndpoints")["value"]]
    assert listed == ["other"], listed
    assert ready(b.get(KIND, "other"))["status"] == "True"


def test_a_shutdown_during_a_pass_is_prompt_and_writes_nothing_false(
    api_client: client.ApiClient, kube: KubeProcess, sim: SimulatorProcess, namespace: str
) -> None:
    op = OperatorProcess(
        kubeconfig=kube.kubeconfig, arm_endpoint=sim.base_url, ca=sim.ca, namespaces=[namespace]
    ).start()
    cluster = Cluster(api_client, namespace, op.log_text)
    try:
        sim.admin(
            "POST", "faults", {"method": "GET", "resourceType": "serverlessEndpoints", "latencyMs": 20000}
        )
        cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

        def reading() -> bool:
            return bool(sim.admin("GET", "stats")["requests"].get("GET serverlessEndpoints"))

        cluster.wait("the endpoint's read to be in flight", reading, timeout=20)
        started = time.monotonic()
        op.stop()
        took = time.monotonic() - started
    finally:
        op.close()
    assert took < 6, f"shutdown took {took:.1f} s\n{op.log_text()[-3000:]}"
    status = (cluster.get(KIND, "phi") or {}).get("status") or {}
    assert "RuntimeError" not in str(status) and "unexpected" not in str(status), status


def workspace(name: str, **spec: Any) -> dict[str, Any]:
    return manifest(
        "Workspace",
        name,
        {"subscriptionId": SUB, "resourceGroup": "rg-sim", "workspaceName": "ws-sim", **spec},
    )


def test_a_reference_to_another_namespace_is_refused_and_nothing_reaches_azure(
    tenants: tuple[Cluster, Cluster], sim: SimulatorProcess
) -> None:
    a, b = tenants
    b.apply(workspace("shared"))
    b.wait_ready("Workspace", "shared")
    before = writes(sim.admin("GET", "stats"), "serverlessEndpoints")

    a.apply(
        manifest(KIND, "phi", {"modelId": PHI, "workspaceRef": {"name": "shared", "namespace": b.namespace}})
    )
    message = ready(a.wait_reason(KIND, "phi", "InvalidSpec"))["message"]
    assert f"spec.workspaceRef names namespace {b.namespace}" in message and a.namespace in message
    # Naming its own namespace is no reference elsewhere.
    a.apply(workspace("own"))
    a.apply(
        manifest(
            KIND, "phi-own", {"modelId": PHI_35, "workspaceRef": {"name": "own", "namespace": a.namespace}}
        )
    )
    a.wait_ready(KIND, "phi-own")
    assert writes(sim.admin("GET", "stats"), "serverlessEndpoints") == before + 1
    assert ready(a.get(KIND, "phi"))["reason"] == "InvalidSpec"


def test_a_credential_secret_is_read_only_from_the_workspaces_own_namespace(
    tenants: tuple[Cluster, Cluster], api_client: client.ApiClient
) -> None:
    a, b = tenants
    core = client.CoreV1Api(api_client)
    data = {"clientId": "c", "clientSecret": "s", "tenantId": "t"}
    core.create_namespaced_secret(b.namespace, {"metadata": {"name": "sp"}, "stringData": data})

    a.apply(workspace("by-name", credential={"secretRef": {"name": "sp"}}))
    message = ready(a.wait_reason("Workspace", "by-name", "InvalidSpec"))["message"]
    assert f"does not exist in namespace {a.namespace}" in message
    a.apply(workspace("by-namespace", credential={"secretRef": {"name": "sp", "namespace": b.namespace}}))
    message = ready(a.wait_reason("Workspace", "by-namespace", "InvalidSpec"))["message"]
    assert f"spec.credential.secretRef names namespace {b.namespace}" in message
    # b's Secret was never taken into use (a Secret in use carries the operator's finalizer).
    assert not core.read_namespaced_secret("sp", b.namespace).metadata.finalizers
