"""The periodic drift check: repairs what changed in Azure behind Kubernetes' back, re-reads the keys,
and writes nothing when nothing drifted."""

from __future__ import annotations

import time

from e2e_helpers import PHI, Cluster, arm, manifest, writes

from azureml_standins.simulator.process import SimulatorProcess
from conftest import DRIFT_INTERVAL


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
    updating = [e for e in cluster.events("phi") if e["reason"] == "Updating"]
    assert updating and "contentSafety: Disabled -> Enabled" in updating[0]["message"]


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


def test_when_nothing_drifted_the_drift_check_writes_nothing(cluster: Cluster, sim: SimulatorProcess) -> None:
    cluster.apply(manifest("ServerlessEndpoint", "phi", {"modelId": PHI}))
    ready = cluster.wait_ready("ServerlessEndpoint", "phi")
    before = sim.admin("GET", "stats")
    time.sleep(3 * DRIFT_INTERVAL)
    after = sim.admin("GET", "stats")

    assert writes(after, "serverlessEndpoints") == writes(before, "serverlessEndpoints")
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
