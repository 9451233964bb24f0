"""The operator restarting: killed while Azure is still creating an endpoint, restarted with nothing
to do, and down while an object is deleted. A restarted operator must recognise its own work from
status and tags, write nothing when nothing changed, and finish what its predecessor could not."""

from __future__ import annotations

import time
from typing import Any

from e2e_helpers import PHI, Cluster, Operators, arm, count, delta, manifest, ready, stats

from azureml_standins.simulator.process import SimulatorProcess

KIND = "ServerlessEndpoint"
FINALIZER = "azureml.dev/finalizer"


def own_events(cluster: Cluster) -> list[tuple[str, str, str]]:
    """The operator's Events for phi (not kopf's own log echoes), in a stable order."""
    return sorted(
        (e["type"], e["reason"], e["message"]) for e in cluster.events("phi") if e["reason"] != "Logging"
    )


def test_killed_mid_creation_the_next_operator_waits_for_the_same_endpoint(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    cluster = restartable
    sim.admin("POST", "latency", {"scale": 1.0})  # a serverless create takes 120 simulated seconds
    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))

    def creating() -> dict[str, Any] | None:
        # The status reports Creating from the record written just before the PUT: wait for Azure
        # to have the endpoint too, so the kill lands while Azure provisions it.
        obj = cluster.get(KIND, "phi")
        status = (obj or {}).get("status") or {}
        recorded = status.get("azureResourceId") and ready(obj).get("reason") == "Creating"
        return obj if recorded and count(stats(sim), "PUT serverlessEndpoints") == 1 else None

    obj = cluster.wait("the create to be in flight", creating, timeout=15)
    assert obj["status"]["azureResourceId"].endswith("/serverlessEndpoints/phi")
    operators.started[0].kill()
    # What a killed operator could not clean up lies in its stand-in's directory, removed with it.
    assert list(operators.started[0].tmp.glob("azureml-operator-ca-*/ca-bundle.pem"))
    assert arm(sim, "GET", "serverlessEndpoints/phi")["properties"]["provisioningState"] == "Creating"
    before = stats(sim)

    operators.start()

    # The new operator looks at Azure, finds its predecessor's creation in progress, and waits.
    cluster.wait(
        "the restarted operator to look at the endpoint",
        lambda: count(stats(sim), "GET serverlessEndpoints") > count(before, "GET serverlessEndpoints"),
        timeout=15,
    )
    assert ready(cluster.get(KIND, "phi"))["reason"] == "Creating"
    sim.admin("POST", "clock", {"advanceSeconds": 150})  # Azure finishes the creation

    obj = cluster.wait_ready(KIND, "phi", timeout=30)
    assert obj["status"]["endpointState"] == "Online"
    after = stats(sim)
    assert count(after, "PUT serverlessEndpoints") == 1, after["requests"]
    assert after["resources"].get("serverlessEndpoints") == 1
    assert [e["name"] for e in arm(sim, "GET", "serverlessEndpoints")["value"]] == ["phi"]
    secret = cluster.secret("phi-keys")
    assert secret is not None and secret["primaryKey"] and secret["secondaryKey"]
    assert secret["endpoint"] == obj["status"]["inferenceUri"]
    assert not [e for e in cluster.events("phi") if e["reason"] == "Conflict"], cluster.events("phi")


def test_a_restart_with_nothing_to_do_writes_nothing(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    cluster = restartable
    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))
    ready_before = ready(cluster.wait_ready(KIND, "phi"))
    operators.started[0].stop()
    before = stats(sim)
    events_before = own_events(cluster)

    operators.start()

    cluster.wait(
        "the restarted operator to look at the endpoint",
        lambda: count(stats(sim), "GET serverlessEndpoints") > count(before, "GET serverlessEndpoints"),
        timeout=15,
    )
    time.sleep(2.0)
    made = delta(stats(sim), before)
    assert set(made) <= {
        "GET serverlessEndpoints",
        "POST serverlessEndpoints/listKeys",
        "GET workspaces",
    }, made
    obj = cluster.get(KIND, "phi")
    assert ready(obj) == ready_before  # same reason, message and lastTransitionTime
    assert own_events(cluster) == events_before  # nothing re-announced


def test_an_object_deleted_while_the_operator_is_down_is_cleaned_up_on_its_return(
    restartable: Cluster, operators: Operators, sim: SimulatorProcess
) -> None:
    cluster = restartable
    cluster.apply(manifest(KIND, "phi", {"modelId": PHI}))
    cluster.wait_ready(KIND, "phi")
    operators.started[0].stop()

    cluster.delete(KIND, "phi")

    time.sleep(0.5)
    obj = cluster.get(KIND, "phi")
    assert obj is not None, "the finalizer should hold the object while no operator runs"
    assert obj["metadata"].get("deletionTimestamp")
    assert FINALIZER in obj["metadata"].get("finalizers", [])
    assert stats(sim)["resources"].get("serverlessEndpoints") == 1

    operators.start()

    cluster.wait_gone(KIND, "phi", timeout=20)
    after = stats(sim)
    assert count(after, "DELETE serverlessEndpoints") == 1
    assert "serverlessEndpoints" not in after["resources"]
    cluster.wait("the keys Secret to be garbage-collected", lambda: cluster.secret("phi-keys") is None)
