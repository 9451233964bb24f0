"""deletionPolicy, the reconcile-policy annotation, and who may take over an existing Azure resource."""

from __future__ import annotations

from e2e_helpers import LLAMA, PHI, Cluster, arm, manifest, ready, writes

from azureml_standins.simulator.process import SimulatorProcess

POLICY = "azureml.dev/reconcile-policy"
ADOPT = "azureml.dev/adopt"


def test_retain_leaves_the_azure_resource_when_the_object_is_deleted(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "deletionPolicy": "Retain"}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    cluster.delete("ServerlessEndpoint", "phi")
    cluster.wait_gone("ServerlessEndpoint", "phi")
    assert arm(sim, "GET", "serverlessEndpoints/phi")["properties"]["provisioningState"] == "Succeeded"
    assert sim.admin("GET", "stats")["requests"].get("DELETE serverlessEndpoints") is None


def test_skip_touches_nothing_in_azure(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}, {POLICY: "skip"}))
    obj = cluster.wait_reason("ServerlessEndpoint", "phi", "ReconcileSkipped")
    assert ready(obj)["status"] == "Unknown"
    assert "serverlessEndpoints" not in str(sim.admin("GET", "stats")["requests"])

    cluster.patch("ServerlessEndpoint", "phi", {"metadata": {"annotations": {POLICY: "manage"}}})
    cluster.wait_ready("ServerlessEndpoint", "phi")


def test_detach_keeps_managing_but_leaves_the_resource_on_delete(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}, {POLICY: "detach"}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    cluster.delete("ServerlessEndpoint", "phi")
    cluster.wait_gone("ServerlessEndpoint", "phi")
    assert arm(sim, "GET", "serverlessEndpoints/phi")["name"] == "phi"
    assert [e for e in cluster.events("phi") if e["reason"] == "Retained"]


def test_an_unknown_policy_is_reported_and_nothing_is_done(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}, {POLICY: "sometimes"}))
    obj = cluster.wait_reason("ServerlessEndpoint", "phi", "InvalidSpec")
    assert "manage, skip, detach" in ready(obj)["message"]
    assert writes(sim.admin("GET", "stats"), "serverlessEndpoints") == 0


def test_a_foreign_endpoint_is_a_conflict_until_adopted(cluster: Cluster, sim: SimulatorProcess) -> None:
    from azure.ai.ml.entities import ServerlessEndpoint

    ml = sim.ml_client(retry_total=0)
    ml.serverless_endpoints.begin_create_or_update(ServerlessEndpoint(name="phi", model_id=PHI)).result()
    before = writes(sim.admin("GET", "stats"), "serverlessEndpoints")

    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    obj = cluster.wait_reason("ServerlessEndpoint", "phi", "Conflict")
    assert ADOPT in ready(obj)["message"]
    assert writes(sim.admin("GET", "stats"), "serverlessEndpoints") == before
    assert cluster.secret("phi-keys") is None

    cluster.patch("ServerlessEndpoint", "phi", {"metadata": {"annotations": {ADOPT: "true"}}})
    adopted = cluster.wait_ready("ServerlessEndpoint", "phi")
    tags = arm(sim, "GET", "serverlessEndpoints/phi")["tags"]
    assert tags["azureml.dev-owner-uid"] == adopted["metadata"]["uid"]
    assert (cluster.secret("phi-keys") or {}).get("primaryKey") == ml.serverless_endpoints.get_keys(
        "phi"
    ).primary_key

    # Adopted means owned: deleting the object now deletes the endpoint.
    cluster.delete("ServerlessEndpoint", "phi")
    cluster.wait_gone("ServerlessEndpoint", "phi")
    assert "serverlessEndpoints" not in sim.admin("GET", "stats")["resources"]


def test_deleting_an_object_in_conflict_leaves_the_foreign_resource_alone(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    from azure.ai.ml.entities import MarketplaceSubscription

    ml = sim.ml_client(retry_total=0)
    ml.marketplace_subscriptions.begin_create_or_update(
        MarketplaceSubscription(name="llama", model_id=LLAMA)
    ).result()
    cluster.apply(manifest("ModelSubscription", "llama", {"modelId": LLAMA}))
    cluster.wait_reason("ModelSubscription", "llama", "Conflict")
    cluster.delete("ModelSubscription", "llama")
    cluster.wait_gone("ModelSubscription", "llama")
    assert ml.marketplace_subscriptions.get("llama").name == "llama"
