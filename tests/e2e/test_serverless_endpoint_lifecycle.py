"""The seeds' story end to end: subscribe, create, use the keys, change, delete."""

from __future__ import annotations

import json

import pytest
from e2e_helpers import LLAMA, PHI, WS_ID, Cluster, arm, chat, example, manifest, ready, writes
from kubernetes.client.exceptions import ApiException

from azureml_standins.simulator.process import SimulatorProcess


def test_examples_converge_to_ready_with_working_keys_in_their_secrets(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    for path in (
        "llama-serverless/serverless-endpoint.yaml",  # before its subscription: it waits for it
        "llama-serverless/model-subscription.yaml",
        "phi-serverless/serverless-endpoint.yaml",
        "workspace/workspace.yaml",
    ):
        cluster.apply(example(path))

    sub = cluster.wait_ready("ModelSubscription", "meta-llama-3-8b-instruct")
    assert sub["status"]["subscriptionStatus"] == "Subscribed"
    assert sub["status"]["azureResourceId"] == f"{WS_ID}/marketplaceSubscriptions/meta-llama-3-8b-instruct"
    ws = cluster.wait_ready("Workspace", "team-a")
    assert ws["status"]["location"] == "eastus2"

    ml = sim.ml_client(retry_total=0)
    for name in ("llama-chat", "phi-chat"):
        endpoint = cluster.wait_ready("ServerlessEndpoint", name)
        status = endpoint["status"]
        assert status["endpointState"] == "Online"
        assert status["observedGeneration"] == endpoint["metadata"]["generation"]
        secret = cluster.secret(f"{name}-keys")
        assert secret is not None
        azure_keys = ml.serverless_endpoints.get_keys(name)
        assert secret == {
            "primaryKey": azure_keys.primary_key,
            "secondaryKey": azure_keys.secondary_key,
            "endpoint": status["inferenceUri"],
        }
        reply = chat(secret["endpoint"], secret["primaryKey"])
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"]
        # Keys appear in the Secret and nowhere else.
        assert azure_keys.primary_key not in str(endpoint)
        assert all(azure_keys.primary_key not in e["message"] for e in cluster.events())

    waited = [e for e in cluster.events("llama-chat") if e["reason"] == "WaitingForSubscription"]
    assert waited, "the endpoint applied first should have said it waits for its subscription"
    assert sim.admin("GET", "stats")["requests"].get("PUT serverlessEndpoints") == 2  # one create each


def test_a_spec_change_is_applied_in_azure_and_reported(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "contentSafety": "Enabled"}))
    cluster.wait_ready("ServerlessEndpoint", "phi")

    cluster.patch("ServerlessEndpoint", "phi", {"spec": {"contentSafety": "Disabled"}})

    def updated() -> bool:
        obj = cluster.get("ServerlessEndpoint", "phi")
        return bool(obj and obj["status"].get("observedGeneration") == 2 and ready(obj)["status"] == "True")

    cluster.wait("the update to be observed and Ready", updated)
    in_azure = arm(sim, "GET", "serverlessEndpoints/phi")
    assert in_azure["properties"]["contentSafety"]["contentSafetyStatus"] == "Disabled"
    assert [e for e in cluster.events("phi") if e["reason"] == "Updating"]
    assert sim.admin("GET", "stats")["requests"]["PUT serverlessEndpoints"] == 2


def test_deleting_removes_the_endpoint_in_azure_and_then_the_object_and_secret(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    assert cluster.secret("phi-keys") is not None

    cluster.delete("ServerlessEndpoint", "phi")

    cluster.wait_gone("ServerlessEndpoint", "phi")
    assert sim.admin("GET", "stats")["requests"].get("DELETE serverlessEndpoints") == 1
    assert "serverlessEndpoints" not in sim.admin("GET", "stats")["resources"]
    cluster.wait("the keys Secret to be garbage-collected", lambda: cluster.secret("phi-keys") is None)
    assert writes(sim.admin("GET", "stats"), "serverlessEndpoints") == 2


def test_a_partner_model_without_subscription_says_what_is_missing(cluster: Cluster) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "llama", {"modelId": LLAMA}))
    obj = cluster.wait_reason("ServerlessEndpoint", "llama", "SubscriptionMissing")
    assert "ModelSubscription" in ready(obj)["message"]
    assert ready(obj)["status"] == "False"


def test_a_name_too_long_for_the_owner_tag_is_rejected_at_admission(cluster: Cluster) -> None:
    """metadata.name ends up in the endpoint's owner tag (`<namespace>/<name>`, 256 characters in
    Azure) and in the default keys Secret name: a name that can never work is refused up front."""
    too_long = "a" * 250
    with pytest.raises(ApiException) as info:
        cluster.apply(manifest("ServerlessEndpoint", too_long, {"modelId": PHI, "endpointName": "phi"}))
    assert info.value.status == 422
    message = json.loads(info.value.body)["message"]
    assert "metadata.name may have at most 192 characters" in message, message
    assert "azureml.dev-owner=<namespace>/<name>" in message and "up to 63" in message, message
    assert cluster.get("ServerlessEndpoint", too_long) is None

    longest = "a" * 192
    cluster.apply(manifest("ServerlessEndpoint", longest, {"modelId": PHI, "endpointName": "phi"}))
    cluster.wait_ready("ServerlessEndpoint", longest)
    assert (cluster.secret(f"{longest}-keys") or {}).get("primaryKey")
