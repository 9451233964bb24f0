"""The periodic drift check: repairs what changed in Azure behind Kubernetes' back, re-reads the keys,
and writes nothing when nothing drifted."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import pytest
from e2e_helpers import DRIFT_INTERVAL, PHI, Cluster, arm, manifest, ready, writes
from kubernetes import client

from azureml_standins.operator import OperatorProcess
from azureml_standins.simulator.process import SimulatorProcess


def test_a_setting_changed_in_azure_is_put_back(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI, "contentSafety": "Enabled"}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    current = arm(sim, "GET", "serverlessEndpoints/phi")
    current["properties"]["contentSafety"] = {"contentSafetyStatus": "Disabled"}
    arm(
        sim,
        "PUT",
        "serverlessEndpoints/phi",
        {k: current[k] for k in ("location", "sku", "tags", "properties")},
    )

    def repaired() -> bool:
        props = arm(sim, "GET", "serverlessEndpoints/phi")["properties"]
        return (
            props["contentSafety"]["contentSafetyStatus"] == "Enabled"
            and props["provisioningState"] == "Succeeded"
        )

    cluster.wait("contentSafety to be repaired", repaired, timeout=4 * DRIFT_INTERVAL + 10)
    repaired_event = cluster.wait_event("phi", "DriftRepaired")
    assert "contentSafety: Disabled -> Enabled" in repaired_event[0]["message"]


def test_an_endpoint_deleted_in_azure_is_created_again_with_fresh_keys(
    cluster: Cluster, sim: SimulatorProcess
) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    old_key = (cluster.secret("phi-keys") or {})["primaryKey"]
    ml = sim.ml_client(retry_total=0)
    ml.serverless_endpoints.begin_delete("phi").result()

    def recreated() -> bool:
        secret = cluster.secret("phi-keys") or {}
        return secret.get("primaryKey") not in (None, old_key)

    cluster.wait(
        "the endpoint to be re-created and its new keys published", recreated, timeout=4 * DRIFT_INTERVAL + 15
    )
    assert (cluster.secret("phi-keys") or {})["primaryKey"] == ml.serverless_endpoints.get_keys(
        "phi"
    ).primary_key


def test_keys_regenerated_in_azure_reach_the_secret(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    new = arm(sim, "POST", "serverlessEndpoints/phi/regenerateKeys", {"keyType": "Secondary"})

    cluster.wait(
        "the regenerated key in the Secret",
        lambda: (cluster.secret("phi-keys") or {}).get("secondaryKey") == new["secondaryKey"],
        timeout=4 * DRIFT_INTERVAL + 10,
    )


def test_when_nothing_drifted_the_drift_check_writes_nothing(
    start_operator: Callable[..., OperatorProcess],
    api_client: client.ApiClient,
    namespace: str,
    sim: SimulatorProcess,
) -> None:
    """With the operator's default keys check (hourly), a drift check of a Ready endpoint reads it
    once and writes nothing: not even listKeys, a POST that ARM counts against the write budget."""
    op = start_operator(keys_check_interval=3600.0)
    cluster = Cluster(api_client, namespace, op.log_text)
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    ready = cluster.wait_ready("ServerlessEndpoint", "phi")
    before = sim.admin("GET", "stats")
    time.sleep(3 * DRIFT_INTERVAL)
    after = sim.admin("GET", "stats")

    assert writes(after, "serverlessEndpoints") == writes(before, "serverlessEndpoints")
    assert after["requests"].get("POST serverlessEndpoints/listKeys", 0) == before["requests"].get(
        "POST serverlessEndpoints/listKeys", 0
    )
    reads = after["requests"].get("GET serverlessEndpoints", 0) - before["requests"].get(
        "GET serverlessEndpoints", 0
    )
    assert 1 <= reads <= 6, (
        f"{reads} reads in {3 * DRIFT_INTERVAL} s: drift checks ran {'never' if not reads else 'too often'}"
    )
    again = cluster.get("ServerlessEndpoint", "phi")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == ready["metadata"]["resourceVersion"], (
        "status was rewritten"
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_keys_secret_holding_bytes_that_are_not_text_is_restored(cluster: Cluster) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    published = cluster.secret_bytes("phi-keys")
    cluster.core.patch_namespaced_secret(
        "phi-keys", cluster.namespace, {"data": {"primaryKey": _b64(b"\xff\xfe")}}
    )

    cluster.wait(
        "the keys Secret to be restored",
        lambda: cluster.secret_bytes("phi-keys") == published,
        timeout=4 * DRIFT_INTERVAL + 10,
        state=lambda: cluster.secret_bytes("phi-keys"),
    )
    obj = cluster.get("ServerlessEndpoint", "phi")
    assert ready(obj)["status"] == "True", ready(obj)


@pytest.mark.parametrize(
    "tampered",
    [
        {"addedByHand": _b64(b"not ours")},
        {"addedByHand": _b64(b"not ours"), "secondaryKey": _b64(b"\xc3\x28")},  # and not UTF-8
    ],
    ids=["extra-key", "extra-key-and-bytes"],
)
def test_the_keys_secret_holds_exactly_the_published_keys_and_a_repair_is_one_event(
    cluster: Cluster, tampered: dict[str, str]
) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    cluster.wait_ready("ServerlessEndpoint", "phi")
    published = cluster.secret_bytes("phi-keys")
    assert published is not None and sorted(published) == ["endpoint", "primaryKey", "secondaryKey"]
    cluster.core.patch_namespaced_secret("phi-keys", cluster.namespace, {"data": tampered})

    cluster.wait(
        "the keys Secret to hold exactly the published keys",
        lambda: cluster.secret_bytes("phi-keys") == published,
        timeout=4 * DRIFT_INTERVAL + 10,
        state=lambda: cluster.secret_bytes("phi-keys"),
    )
    time.sleep(3 * DRIFT_INTERVAL)  # more drift passes, which find nothing to do

    assert cluster.secret_bytes("phi-keys") == published
    published_events = sorted(e["message"] for e in cluster.events("phi") if e["reason"] == "KeysPublished")
    assert published_events == [
        "URI and keys created in Secret phi-keys",
        "URI and keys updated in Secret phi-keys",
    ]
    assert cluster.log().count("KeysPublished: URI and keys updated in Secret phi-keys") == 1
