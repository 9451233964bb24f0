"""Workspaces and credentials, and objects that depend on one another: every problem ends in a
condition that says what to do, and nothing ever gets stuck."""

from __future__ import annotations

import base64
from collections.abc import Callable

from e2e_helpers import DRIFT_INTERVAL, LLAMA, PHI, SUB, Cluster, manifest, ready

from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess


def workspace(
    name: str, workspace_name: str = "ws-sim", credential: dict[str, object] | None = None
) -> dict[str, object]:
    spec: dict[str, object] = {
        "subscriptionId": SUB,
        "resourceGroup": "rg-sim",
        "workspaceName": workspace_name,
    }
    if credential is not None:
        spec["credential"] = credential
    return manifest("Workspace", name, spec)


def test_a_workspace_that_does_not_exist_in_azure_is_reported(cluster: Cluster) -> None:
    cluster.apply(workspace("missing", "ws-nowhere"))
    obj = cluster.wait_reason("Workspace", "missing", "WorkspaceNotFound")
    assert "ws-nowhere" in ready(obj)["message"]


def test_an_endpoint_waits_for_its_workspace_object(cluster: Cluster) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "workspaceRef": {"name": "team-a"}}))
    obj = cluster.wait_reason("ServerlessEndpoint", "phi", "WaitingForWorkspace")
    assert "team-a" in ready(obj)["message"]
    cluster.apply(workspace("team-a"))
    cluster.wait_ready("ServerlessEndpoint", "phi", timeout=40)


def test_credential_problems_are_named(cluster: Cluster) -> None:
    cluster.apply(workspace("by-secret", credential={"secretRef": {"name": "sp-credential"}}))
    obj = cluster.wait_reason("Workspace", "by-secret", "InvalidSpec")
    assert "sp-credential" in ready(obj)["message"]
    # A workload identity needs the token file AKS mounts; without it the credential is unusable here.
    cluster.apply(workspace("by-identity", credential={"clientId": "11111111-2222-3333-4444-555555555555"}))
    obj = cluster.wait_reason("Workspace", "by-identity", "CredentialRejected")
    assert ready(obj)["status"] == "False"


def test_a_credential_secret_that_is_not_text_is_named_and_deletion_says_what_to_do(cluster: Cluster) -> None:
    cluster.apply(workspace("team-a"))
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "workspaceRef": {"name": "team-a"}}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    data = {
        "clientId": b"00000000-0000-0000-0000-000000000001",
        "clientSecret": b"\xff\xfe\xfd",
        "tenantId": b"t",
    }
    cluster.core.create_namespaced_secret(
        cluster.namespace,
        {
            "metadata": {"name": "sp-credential"},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
        },
    )
    cluster.patch("Workspace", "team-a", {"spec": {"credential": {"secretRef": {"name": "sp-credential"}}}})

    message = ready(cluster.wait_reason("Workspace", "team-a", "InvalidSpec"))["message"]
    assert "sp-credential" in message and "clientSecret" in message and "not UTF-8" in message, message
    assert "clientId" not in message and "xff" not in message, message
    # The endpoint's credential is unusable now. Releasing it would leave a billed endpoint behind
    # unnoticed, so the finalizer stays and the object says why and what to do; detach lets it go.
    cluster.delete("ServerlessEndpoint", "phi")
    blocked = ready(cluster.wait_reason("ServerlessEndpoint", "phi", "DeletionBlocked"))["message"]
    assert "clientSecret" in blocked and "reconcile-policy" in blocked and "detach" in blocked, blocked
    cluster.wait_event("phi", "DeletionBlocked", "Warning")
    cluster.patch(
        "ServerlessEndpoint", "phi", {"metadata": {"annotations": {"azureml.dev/reconcile-policy": "detach"}}}
    )
    cluster.wait_gone("ServerlessEndpoint", "phi", timeout=15)
    assert [e for e in cluster.events("phi") if e["reason"] == "Retained"]


def test_without_a_workspace_ref_or_default_the_object_says_so(
    start_operator: Callable[..., OperatorProcess], api_client: object, namespace: str
) -> None:
    op = start_operator(default_workspace=None)
    cluster = Cluster(api_client, namespace, op.log_text)  # type: ignore[arg-type]
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    obj = cluster.wait_reason("ServerlessEndpoint", "phi", "InvalidSpec")
    assert "--default-workspace" in ready(obj)["message"]
    cluster.delete("ServerlessEndpoint", "phi")  # it never reached Azure: released at once
    cluster.wait_gone("ServerlessEndpoint", "phi", timeout=10)


def test_a_workspace_being_deleted_waits_for_the_endpoints_that_use_it(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    # Invariant 3: `kubectl delete -f` of a manifest holding both may delete the Workspace first; the
    # endpoint must still be deleted in Azure, so the Workspace stays until nothing uses it.
    cluster.apply(workspace("team-a"))
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "workspaceRef": {"name": "team-a"}}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    cluster.delete("Workspace", "team-a")
    obj = cluster.wait_reason("Workspace", "team-a", "Deleting")
    assert "ServerlessEndpoint phi" in ready(obj)["message"]
    assert ready(cluster.get("ServerlessEndpoint", "phi"))["status"] == "True"

    cluster.delete("ServerlessEndpoint", "phi")
    cluster.wait_gone("ServerlessEndpoint", "phi")
    assert "serverlessEndpoints" not in sim.admin("GET", "stats")["resources"]
    cluster.wait_gone("Workspace", "team-a", timeout=4 * DRIFT_INTERVAL + 10)


def test_deleting_a_subscription_in_use_is_reported_on_both_sides(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("ModelSubscription", "llama", {"modelId": LLAMA}))
    cluster.apply(
        manifest("ServerlessEndpoint", "llama-chat", {"modelId": LLAMA, "subscriptionRef": {"name": "llama"}})
    )
    cluster.wait_ready("ServerlessEndpoint", "llama-chat")

    cluster.delete("ModelSubscription", "llama")
    cluster.wait_gone("ModelSubscription", "llama")

    assert [
        e
        for e in cluster.events("llama")
        if e["reason"] == "SubscriptionInUse" and "llama-chat" in e["message"]
    ]
    assert [e for e in cluster.events("llama-chat") if e["reason"] == "SubscriptionDeleted"]
    obj = cluster.wait_reason(
        "ServerlessEndpoint", "llama-chat", "SubscriptionInactive", timeout=4 * DRIFT_INTERVAL + 10
    )
    assert ready(obj)["status"] == "False"
